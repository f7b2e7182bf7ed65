#!/bin/sh
# Every public header compiles alone, and a program expanding every public
# macro (tests/headers_pedantic.c) compiles, with -Wall -Wextra -Wpedantic
# -Werror as C11 and C17 and as C++17 and C++20, with the build's
# compilers and with gcc and clang where they are installed.
# $1: include dir, $2: C compiler, $3: C++ compiler, $4: source dir
set -e
inc="$1"; cc="$2"; cxx="$3"; src="$4"; tmp=$(mktemp -d)
flags="-Wall -Wextra -Wpedantic -Werror"
trap 'rm -rf "$tmp"' EXIT
# every header of include/ but the architecture parts, which only
# pcpu/ops.h includes
ccs="$cc"; cxxs="$cxx"
for c in gcc clang; do
	command -v $c >/dev/null 2>&1 && ccs="$ccs $c"
done
for c in g++ clang++; do
	command -v $c >/dev/null 2>&1 && cxxs="$cxxs $c"
done
# build $1 as C (C11, C17) and $2 as C++ (C++17, C++20) with every compiler
both() {
	for c in $ccs; do
		for std in c11 c17; do
			$c -std=$std $flags -I"$inc" -c "$1" -o "$tmp/o.o"
		done
	done
	for c in $cxxs; do
		for std in c++17 c++20; do
			$c -std=$std $flags -I"$inc" -c "$2" -o "$tmp/o.o"
		done
	done
}
for h in $(cd "$inc" && ls pcpu.h pcpu/*.h); do
	printf '#include <%s>\nint main(void) { return 0; }\n' "$h" > "$tmp/t.c"
	cp "$tmp/t.c" "$tmp/t.cpp"
	both "$tmp/t.c" "$tmp/t.cpp"
	echo "ok $h alone (C11, C17: $ccs; C++17, C++20: $cxxs)"
done
# the C++ header, alone, as C++17 and C++20
for h in $(cd "$inc" && ls pcpu/*.hpp); do
	printf '#include <%s>\nint main() { return 0; }\n' "$h" > "$tmp/t.cpp"
	for c in $cxxs; do
		for std in c++17 c++20; do
			$c -std=$std $flags -I"$inc" -c "$tmp/t.cpp" -o "$tmp/o.o"
		done
	done
	echo "ok $h alone (C++17, C++20: $cxxs)"
done
cp "$src/tests/headers_pedantic.c" "$tmp/use.cpp"
both "$src/tests/headers_pedantic.c" "$tmp/use.cpp"
echo "ok every macro expanded (tests/headers_pedantic.c) with $flags"
# the warnings demanding C projects add: the inline readers of pcpu.h
# declare variables in a block, which gcc's -Wnested-externs would flag
extra="-Wnested-externs -Wredundant-decls -Wshadow -Wstrict-prototypes -Wmissing-prototypes"
for c in $ccs; do
	case "$c" in *clang*) x="-Wshadow -Wstrict-prototypes -Wmissing-prototypes" ;; *) x="$extra" ;; esac
	$c -std=c11 $flags $x -I"$inc" -c "$src/tests/headers_pedantic.c" -o "$tmp/o.o"
done
echo "ok every macro expanded with $extra too (gcc; clang without the first two)"
