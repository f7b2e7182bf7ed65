/*
 * Every public macro expanded in user code, for the header test: it must
 * compile without a diagnostic under -Wall -Wextra -Wpedantic -Werror as
 * C11, C17, C++17 and C++20, with gcc and clang (tests/headers_check.sh).
 */
#include <pcpu.h>
#include <pcpu/counter.h>
#include <pcpu/linux.h>
#include <pcpu/ops.h>
#include <pcpu/read.h>
#include <pcpu/ref.h>
#include <pcpu/stats.h>

struct pair {
	long a, b;
};

static void released(struct pcpu_ref *ref)
{
	(void)ref;
}

int main(void)
{
	long *p = (long *)pcpu_alloc(sizeof(long), sizeof(long));
	unsigned char *byte = (unsigned char *)pcpu_alloc(1, 1);
	int **pp = (int **)pcpu_alloc(sizeof(int *), sizeof(int *));
	struct pair *pair = alloc_percpu(struct pair);
	struct pair *pair2 = pcpu_alloc_type(struct pair);
	long *arr = pcpu_alloc_array(long, 4);
	struct pcpu_counter c;
	struct pcpu_ref ref;
	struct pcpu_config cfg;
	struct pcpu_stats_info info;
	long v = 0;
	int cpu;

	pcpu_config_init(&cfg);
	pcpu_add(p, 2);
	pcpu_sub(p, 1);
	pcpu_inc(p);
	pcpu_dec(p);
	pcpu_write(p, 3);
	pcpu_inc(byte);
	pcpu_write(pp, (int *)0);
	v += pcpu_xchg(pp, (int *)0) != 0;
	v += pcpu_cmpxchg(pp, (int *)0, (int *)0) != 0;
	v += pcpu_read(p);
	v += pcpu_add_return(p, 1);
	v += pcpu_xchg(p, 4);
	v += pcpu_cmpxchg(p, 4, 5);
	v += *pcpu_ptr(p, 0);
	v += pcpu_cpu();
	this_cpu_add(*p, 1);
	this_cpu_inc(*p);
	v += this_cpu_read(*p);
	v += this_cpu_inc_return(*p);
	v += *this_cpu_ptr(p);
	v += per_cpu_ptr(pair, 0)->a;
	for_each_possible_cpu(cpu) v += *per_cpu_ptr(p, cpu);
	v += (long)num_possible_cpus() + smp_processor_id();
	if (pcpu_counter_init(&c, 0) == 0) {
		pcpu_counter_add(&c, 1);
		pcpu_counter_inc(&c);
		pcpu_counter_sub(&c, 1);
		percpu_counter_add(&c, 2);
		v += pcpu_counter_read(&c) + pcpu_counter_sum(&c);
		v += pcpu_counter_compare(&c, 1);
		pcpu_counter_destroy(&c);
	}
	if (pcpu_ref_init(&ref, released, 0) == 0) {
		pcpu_ref_get(&ref);
		v += pcpu_ref_tryget(&ref);
		pcpu_ref_put(&ref);
		pcpu_ref_put(&ref);
		pcpu_ref_kill(&ref);
		pcpu_ref_exit(&ref);
	}
	v += pcpu_stats_get(&info) + (long)pcpu_version();
	v += pcpu_sum(p) + pcpu_sum(byte) + pcpu_read_unit(p, 0);
	{
		unsigned int unit;

		pcpu_for_each_unit(unit) v += pcpu_read_unit(p, unit);
	}
	free_percpu(pair);
	pcpu_free(pair2);
	pcpu_free(arr);
	pcpu_free(pp);
	pcpu_free(byte);
	pcpu_free(p);
	return (int)(v & 1);
}
