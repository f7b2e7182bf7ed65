#!/bin/sh
# No variable the headers' inline code reads can be written by a program:
# an assignment to each, through <pcpu/linux.h> too, must not compile, as
# C and as C++; the control, reading the default counter batch under both
# names, must.  $1: include dir, $2: C compiler, $3: C++ compiler
set -e
inc="$1"; cc="$2"; cxx="$3"; tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0
try() { # $1: statement; $2: "fails" or "builds"
	printf '#include <pcpu/linux.h>\nint main(void)\n{\n\t%s;\n\treturn 0;\n}\n' "$1" > "$tmp/t.c"
	cp "$tmp/t.c" "$tmp/t.cpp"
	for c in "$cc -std=c11" "$cxx -std=c++17"; do
		f="$tmp/t.c"
		case "$c" in *-std=c++*) f="$tmp/t.cpp" ;; esac
		if $c -Wall -Wextra -Werror -fsyntax-only -I"$inc" "$f" 2> "$tmp/err"; then
			got=builds
		else
			got=fails
		fi
		# a failure must be the assignment's own: no such variable,
		# or not an lvalue
		if [ $got = fails ] && ! grep -q -i "undeclared\|not declared\|lvalue\|undeclared identifier\|not assignable" "$tmp/err"; then
			got="fails for another reason: $(head -3 "$tmp/err")"
		fi
		if [ "$got" = "$2" ]; then
			echo "ok: '$1' $2 (${c%% *})"
		else
			echo "FAIL: '$1' $got (${c%% *}), expected $2"; bad=1
		fi
	done
}
for v in pcpu_unit_stride pcpu_rseq_limit pcpu_rseq_index pcpu_fork_gen \
	 pcpu_counter_batch percpu_counter_batch; do
	try "$v = 0" fails
done
try "int b = pcpu_counter_batch + percpu_counter_batch; (void)b" builds
exit $bad
