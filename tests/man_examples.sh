#!/bin/sh
# Every EXAMPLES section of the man pages (man/*.3, man/*.7) is a program:
# extract it (the .nf ... .fi block after .SH EXAMPLES), build it with
# -Wall -Wextra -Werror against libpcpu, as C11, or as C++17 where the page
# says '.\" EXAMPLES: C++17', and run it: it must exit 0.
# $1: source dir, $2: C compiler, $3: libpcpu.a, $4: C++ compiler,
# $5: what runs a program of a cross build (the emulator), if any
set -e
src="$1"; cc="$2"; lib="$3"; cxx="${4:-c++}"; run="${5:-}"; tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for page in "$src"/man/*.3 "$src"/man/*.7; do
	grep -q '^\.SH EXAMPLES' "$page" || continue
	name=$(basename "$page")
	awk '/^\.SH EXAMPLES/ { ex = 1; next }
	     ex && /^\.SH/ { exit }
	     ex && /^\.nf/ { code = 1; next }
	     ex && /^\.fi/ { code = 0; next }
	     ex && code { print }' "$page" |
		sed -e 's/\\e/\\/g' -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" > "$tmp/$name.c"
	if grep -q '^\.\\" EXAMPLES: C++17' "$page"; then
		mv "$tmp/$name.c" "$tmp/$name.cpp"
		$cxx -std=c++17 -x c++ -Wall -Wextra -Werror -I"$src/include" \
			"$tmp/$name.cpp" -x none "$lib" -lpthread -o "$tmp/$name"
	else
		$cc -std=c11 -Wall -Wextra -Werror -I"$src/include" "$tmp/$name.c" \
			"$lib" -lpthread -o "$tmp/$name"
	fi
	$run "$tmp/$name" > "$tmp/$name.out"
	echo "ok $name: $(head -1 "$tmp/$name.out")"
	n=$((n + 1))
done
echo "$n examples built and run"
[ "$n" -ge 1 ]
