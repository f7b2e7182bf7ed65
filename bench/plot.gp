# Plots of `make bench`: run as  gnuplot -e "dir='bench/results'" bench/plot.gp
if (!exists("dir")) dir = "bench/results"
set terminal pngcairo size 900,560 noenhanced
set grid
set key below

set output dir."/update.png"
set title "this-CPU update: ns per op per thread"
set xlabel "threads"
set ylabel "ns/op"
set logscale y
plot for [i=2:8] dir."/update.dat" using 1:i with linespoints title columnheader(i)
unset logscale y

set output dir."/growth.png"
set title "pcpu_alloc + pcpu_free (random order, 8 B) vs live objects"
set xlabel "live objects"
set ylabel "ns per pair"
set logscale x
plot dir."/growth.dat" using 1:2 with linespoints title "libpcpu"
