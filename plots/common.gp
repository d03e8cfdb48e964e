# Shared look of every plot: loaded by each plots/*.gp after bench/plot has
# set `datadir`, `out` (path without extension) and `fmt` (png or svg).
if (fmt eq "svg") {
	set terminal svg size 800,500 dynamic enhanced font "sans,13" background "white"
} else {
	set terminal pngcairo size 800,500 enhanced font "sans,12" background "white"
}
set output out . "." . fmt
set grid ytics lc rgb "#dddddd"
set key top left box opaque
set border 3
set tics nomirror
set style line 1 lc rgb "#d62728" lw 2 pt 7 ps 1.2   # baseline
set style line 2 lc rgb "#1f77b4" lw 2 pt 5 ps 1.2   # dedup
set style line 3 lc rgb "#2ca02c" lw 2 dt 2 pt 0     # ideal
set style line 4 lc rgb "#7f7f7f" lw 2 pt 9 ps 1.2   # before dump
MiB = 1048576.0
