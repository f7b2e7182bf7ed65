#!/bin/sh
# Install into a temporary prefix, then build and run a program against it
# through pkg-config and through find_package(pcpu).
# $1: build dir, $2: source dir
set -e
build="$1"; src="$2"; tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
find "$tmp/prefix" -type f -o -type l | sed "s|$tmp/prefix/||" | sort
cat > "$tmp/use.c" <<'EOC'
#include <pcpu/counter.h>
#include <stdio.h>
int main(void)
{
	struct pcpu_counter c;
	if (pcpu_counter_init(&c, 1))
		return 1;
	pcpu_counter_add(&c, 41);
	printf("sum %lld\n", (long long)pcpu_counter_sum(&c));
	return pcpu_counter_sum(&c) == 42 ? 0 : 1;
}
EOC
libdir=$(dirname "$(find "$tmp/prefix" -name libpcpu.pc)")
PKG_CONFIG_PATH="$libdir" cc "$tmp/use.c" -o "$tmp/use_pc" \
	$(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs libpcpu)
LD_LIBRARY_PATH="$(dirname "$libdir")" "$tmp/use_pc"
mkdir "$tmp/proj"
cat > "$tmp/proj/CMakeLists.txt" <<'EOC'
cmake_minimum_required(VERSION 3.16)
project(use C)
find_package(pcpu REQUIRED)
add_executable(use use.c)
target_link_libraries(use PRIVATE pcpu::pcpu)
EOC
cp "$tmp/use.c" "$tmp/proj/"
cmake -S "$tmp/proj" -B "$tmp/proj/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/cm.log"
cmake --build "$tmp/proj/b" > "$tmp/b.log"
"$tmp/proj/b/use"
test -f "$tmp/prefix/share/man/man3/pcpu_alloc.3"
test -f "$tmp/prefix/share/man/man7/libpcpu.7"
echo "installed, used through pkg-config and find_package"
