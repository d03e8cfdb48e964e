# What a dump and a restore cost as the tree grows in processes (a fan-out
# sweep: the scale matrix's tasks sweep, or the default matrix's fan-out
# sweep): wall time per build, and CRIU's own peak RSS on the right axis.
# Data: cost-tasks.dat (procs, then per build: dump_s restore_s
# dump_peak_rss_bytes restore_peak_rss_bytes; baseline, then dedup).
load "plots/common.gp"
set title "Dump and restore cost vs number of processes (dumps on tmpfs)"
set xlabel "processes in the tree"
set ylabel "wall time (s)"
set y2label "CRIU peak RSS (MiB)"
set logscale x 2
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
plot datadir."/cost-tasks.dat" using 1:2 with linespoints ls 1 pt 7 title "dump, baseline", \
     "" using 1:6 with linespoints ls 2 pt 5 title "dump, dedup", \
     "" using 1:3 with linespoints ls 1 dt 2 pt 6 title "restore, baseline", \
     "" using 1:7 with linespoints ls 2 dt 2 pt 4 title "restore, dedup", \
     "" using 1:($4/MiB) axes x1y2 with points ls 1 pt 9 title "dump peak RSS, baseline", \
     "" using 1:($8/MiB) axes x1y2 with points ls 2 pt 11 title "dump peak RSS, dedup"
