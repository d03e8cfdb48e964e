# Image size against the number of children (fan-out sweep on the fanout
# scenario). Data: fanout.dat (fanout baseline dedup ideal, bytes).
load "plots/common.gp"
set title "Image size vs fan-out (fanout sweep)"
set xlabel "children of the root (fan-out)"
set ylabel "pages-*.img total (MiB)"
set logscale x 2
set xrange [0.8:20]
set yrange [0:*]
plot datadir."/fanout.dat" using 1:($2/MiB) with linespoints ls 1 title "baseline CRIU", \
     "" using 1:($3/MiB) with linespoints ls 2 title "dedup CRIU", \
     "" using 1:($4/MiB) with lines ls 3 title "ideal (each distinct page once)"
