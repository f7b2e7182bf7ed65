// SPDX-License-Identifier: MIT
/*
 * options.c - the allocator's settings: pcpu_init()'s struct, else the
 * PCPU_* environment variables, else the defaults.  An invalid environment
 * value is reported on stderr and ignored; an invalid field of the struct
 * makes pcpu_init() fail with -EINVAL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcpu.h>

#include "percpu-internal.h"

/* Parse a whole decimal number with an optional K/M/G suffix. */
static int pcpu_parse_size(const char *s, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static bool pcpu_unit_size_ok(unsigned long long v, size_t page_size)
{
	return v >= page_size && v <= PCPU_MAX_UNIT_SIZE && !(v & (v - 1));
}

static void pcpu_env_invalid(const char *name, const char *val, const char *why)
{
	fprintf(stderr, "libpcpu: ignoring %s=%s: %s\n", name, val, why);
}

/* A 0/1 variable: 0 or 1, or -1 when unset or invalid. */
static int pcpu_env_01(const char *name)
{
	const char *v = getenv(name);

	if (!v)
		return -1;
	if (!strcmp(v, "0"))
		return 0;
	if (!strcmp(v, "1"))
		return 1;
	pcpu_env_invalid(name, v, "expected 0 or 1");
	return -1;
}

/* A 0/1 variable; @def when unset or invalid. */
static bool pcpu_env_bool(const char *name, bool def)
{
	int v = pcpu_env_01(name);

	return v < 0 ? def : v;
}

/* PCPU_SHOW_STATS: 0, 1 (a summary at exit) or 2 (every statistic, per
 * chunk too); 0 when unset or invalid. */
static int pcpu_env_show_stats(void)
{
	const char *v = getenv("PCPU_SHOW_STATS");

	if (!v || !strcmp(v, "0"))
		return 0;
	if (!strcmp(v, "1") || !strcmp(v, "2"))
		return v[0] - '0';
	pcpu_env_invalid("PCPU_SHOW_STATS", v, "expected 0, 1 or 2");
	return 0;
}

/* PCPU_NUMA: "bind" sets a NUMA policy per node's run of units (a mapping
 * each), "first-touch" (the default) leaves a chunk one mapping. */
static bool pcpu_env_numa_bind(void)
{
	const char *v = getenv("PCPU_NUMA");

	if (!v || !strcmp(v, "first-touch"))
		return false;
	if (!strcmp(v, "bind"))
		return true;
	pcpu_env_invalid("PCPU_NUMA", v, "expected first-touch or bind");
	return false;
}

/* PCPU_INDEX: cpu, cid or auto (the default). */
static int pcpu_env_index(void)
{
	static const char *const names[] = {"cpu", "cid", "auto"};
	const char *v = getenv("PCPU_INDEX");
	int i;

	if (!v)
		return PCPU_INDEX_AUTO;
	for (i = 0; i < 3; i++)
		if (!strcmp(v, names[i]))
			return i;
	pcpu_env_invalid("PCPU_INDEX", v, "expected cpu, cid or auto");
	return PCPU_INDEX_AUTO;
}

static size_t pcpu_env_unit_size(size_t page_size)
{
	const char *v = getenv("PCPU_UNIT_SIZE");
	unsigned long long n;

	if (!v)
		return PCPU_DEFAULT_UNIT_SIZE;
	if (pcpu_parse_size(v, &n) || !pcpu_unit_size_ok(n, page_size)) {
		pcpu_env_invalid("PCPU_UNIT_SIZE", v,
				 "expected a power of two from the page size "
				 "to 1G");
		return PCPU_DEFAULT_UNIT_SIZE;
	}
	return (size_t)n;
}

static unsigned int pcpu_env_nr_units(unsigned int def)
{
	const char *v = getenv("PCPU_NR_UNITS");
	unsigned long long n;

	if (!v)
		return def;
	if (pcpu_parse_size(v, &n) || n < 1 || n > PCPU_MAX_UNITS) {
		pcpu_env_invalid("PCPU_NR_UNITS", v,
				 "expected a number from 1 to 65536");
		return def;
	}
	return (unsigned int)n;
}

/*
 * Strict mode guards every unpopulated page.  Without guard regions
 * (Linux < 6.13) that takes mprotect() per unit, splitting a chunk into up
 * to 2 x units mappings: a few hundred chunks at 256 units would take the
 * process to vm.max_map_count.  So strict mode is refused there, with one
 * message if it was asked for (not when it is only the debug default),
 * and the default mode runs: a chunk then costs at most two mappings.
 */
static void pcpu_strict_check(struct pcpu_geometry *geo, bool asked)
{
	geo->strict_refused = geo->strict && !geo->caps.guard_regions;
	if (!geo->strict_refused)
		return;
	geo->strict = false;
	if (asked)
		fprintf(stderr,
			"libpcpu: strict mode needs guard regions "
			"(MADV_GUARD_INSTALL, Linux 6.13+), which this kernel "
			"does not offer; running in the default mode\n");
}

static bool pcpu_tristate(int v, bool env)
{
	return v < 0 ? env : v != 0;
}

/**
 * pcpu_options_load - settle the allocator's settings
 * @cfgp: the struct pcpu_config given to pcpu_init(), or NULL
 * @geo: the start-up settings; the caps and page size are already known
 *
 * Context: the start-up lock.
 * Return: 0, or -EINVAL for an invalid field of @cfgp.
 */
int pcpu_options_load(const void *cfgp, struct pcpu_geometry *geo)
{
	const struct pcpu_config *cfg = cfgp;
	struct pcpu_config none;
#ifdef PCPU_DEBUG
	bool strict_def = true;
#else
	bool strict_def = false;
#endif
	bool env_strict;

	if (!cfg) {
		pcpu_config_init(&none);
		cfg = &none;
	}
	if (cfg->unit_size &&
	    !pcpu_unit_size_ok(cfg->unit_size, geo->page_size))
		return -EINVAL;
	if (cfg->nr_units > PCPU_MAX_UNITS || cfg->balance < -1 ||
	    cfg->balance > 1 || cfg->strict < -1 || cfg->strict > 1 ||
	    cfg->show_stats < -1 || cfg->show_stats > 2 || cfg->index < -1 ||
	    cfg->index > PCPU_INDEX_AUTO)
		return -EINVAL;

	geo->unit_size = cfg->unit_size ? cfg->unit_size
					: pcpu_env_unit_size(geo->page_size);
	geo->nr_units = cfg->nr_units
				? cfg->nr_units
				: pcpu_env_nr_units(geo->caps.nr_possible_cpus);
	geo->balance_enabled = pcpu_tristate(
		cfg->balance, pcpu_env_bool("PCPU_BALANCE", true));
	geo->tcache = pcpu_env_bool("PCPU_TCACHE", true);
	env_strict = pcpu_env_bool("PCPU_STRICT", strict_def);
	geo->strict = pcpu_tristate(cfg->strict, env_strict);
	geo->show_stats =
		cfg->show_stats < 0 ? pcpu_env_show_stats() : cfg->show_stats;
	geo->rseq_opt = pcpu_env_01("PCPU_RSEQ");
	geo->index_opt = cfg->index < 0 ? pcpu_env_index() : cfg->index;
	geo->numa_bind = pcpu_env_numa_bind() || geo->force_numa;
	pcpu_strict_check(geo,
			  cfg->strict == 1 || (cfg->strict < 0 && env_strict &&
					       getenv("PCPU_STRICT")));
	return 0;
}
