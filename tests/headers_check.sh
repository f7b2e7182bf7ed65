#!/bin/sh
# Every public header compiles alone in C11 and in C++17 with
# -Wall -Wextra -Werror.  $1: include dir, $2: C compiler, $3: C++ compiler
set -e
inc="$1"; cc="$2"; cxx="$3"; tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# every header of include/ but the architecture parts, which only
# pcpu/ops.h includes
for h in $(cd "$inc" && ls pcpu.h pcpu/*.h); do
	printf '#include <%s>\nint main(void) { return 0; }\n' "$h" > "$tmp/t.c"
	cp "$tmp/t.c" "$tmp/t.cpp"
	"$cc" -std=c11 -Wall -Wextra -Werror -I"$inc" -c "$tmp/t.c" -o "$tmp/t.o"
	"$cxx" -std=c++17 -Wall -Wextra -Werror -I"$inc" -c "$tmp/t.cpp" -o "$tmp/t.o"
	echo "ok $h (C11, C++17)"
done
