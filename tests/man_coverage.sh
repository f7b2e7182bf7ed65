#!/bin/sh
# Every public function and macro has a man page: its own or a group page
# that a link page (.so) leads to, whose NAME line lists it; every group
# page has RETURN VALUE, ERRORS and EXAMPLES sections; every name that
# <pcpu/linux.h> defines appears in pcpu_linux(3) (a __this_cpu_ or
# raw_cpu_ form through its this_cpu_ name) and every name of namespace
# pcpu in pcpu_cxx(3).  Internal names (leading __, ending in _slow) are
# left out.  $1: source dir
set -e
src="$1"; man="$src/man"; inc="$src/include"; bad=0
fail() { echo "FAIL: $*"; bad=1; }

# the public names of the C headers
names=$(cd "$inc" && cat pcpu.h pcpu/ops.h pcpu/read.h pcpu/counter.h \
		pcpu/ref.h pcpu/stats.h |
	sed -n -e 's/^PCPU_API [^(]*[ *]\([a-z_][a-z0-9_]*\)(.*/\1/p' \
	       -e 's/^static inline [^(]*[ *]\([a-z_][a-z0-9_]*\)(.*/\1/p' \
	       -e 's/^#define \(pcpu_[a-z0-9_]*\)[( ].*/\1/p' |
	grep -v '^__' | grep -v '_slow$' | sort -u)
n=0
for f in $names; do
	n=$((n + 1))
	page="$man/$f.3"
	if [ ! -f "$page" ]; then
		fail "$f: no man/$f.3"; continue
	fi
	target=$(sed -n 's|^\.so man3/\(.*\)$|\1|p' "$page")
	[ -n "$target" ] && page="$man/$target"
	[ -f "$page" ] || { fail "$f: $page missing"; continue; }
	sed -n '/^\.SH NAME/{n;p;}' "$page" | grep -q "\\b$f\\b" ||
		fail "$f: not in the NAME line of $(basename "$page")"
done
echo "$n public names of the C headers, each with a page"

# group pages: the sections every page has
for page in "$man"/*.3; do
	grep -q '^\.so ' "$page" && continue
	for sec in "RETURN VALUE" "ERRORS" "EXAMPLES"; do
		grep -q "^\\.SH $sec" "$page" ||
			fail "$(basename "$page"): no $sec section"
	done
done

# <pcpu/linux.h>: every macro, function and type it defines
lnames=$(sed -n -e 's/^#define \([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' \
		-e 's/^static inline [^(]*[ *]\([a-z_][a-z0-9_]*\)(.*/\1/p' \
		-e 's/^typedef .* \([a-z0-9_]*\);/\1/p' "$inc/pcpu/linux.h" |
	grep -v '^PCPU_LINUX_H$' | sort -u)
n=0
for f in $lnames; do
	n=$((n + 1))
	w="$f"
	case "$f" in
	__this_cpu_*) w="this_cpu_${f#__this_cpu_}"; p=__this_cpu_ ;;
	raw_cpu_*) w="this_cpu_${f#raw_cpu_}"; p=raw_cpu_ ;;
	*) p= ;;
	esac
	[ -z "$p" ] || grep -q -- "$p" "$man/pcpu_linux.3" ||
		fail "linux.h $f: the $p forms are not in pcpu_linux.3"
	grep -q -- "$w" "$man/pcpu_linux.3" || fail "linux.h $f: not in pcpu_linux.3"
done
echo "$n names of <pcpu/linux.h>, each in pcpu_linux(3)"

# <pcpu/pcpu.hpp>: what namespace pcpu declares at its top level, its
# namespace detail left out
cnames=$(awk '/^namespace detail/ { d = 1 } !d { print } /^} \/\/ namespace detail/ { d = 0 }' \
		"$inc/pcpu/pcpu.hpp" | sed -n -e 's/^template <class T> inline [^(]*[ *]\([a-z_]*\)(.*/\1/p' \
		-e 's/^template <class T> class \([a-z_]*\).*/\1/p' \
		-e 's/^class \([a-z_]*\).*/\1/p' \
		-e 's/^\(\[\[[a-z]*\]\] \)\{0,1\}inline [^(]* \([a-z_]*\)(.*/\2/p' |
	sort -u)
n=0
for f in $cnames; do
	n=$((n + 1))
	grep -q "pcpu::$f\\b" "$man/pcpu_cxx.3" || fail "pcpu.hpp $f: not in pcpu_cxx.3"
done
echo "$n names of namespace pcpu, each in pcpu_cxx(3)"
exit $bad
