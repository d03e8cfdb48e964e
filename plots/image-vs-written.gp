# Image size against the fraction of the region each child rewrote
# (written-ratio sweep on the fanout scenario). Data: written.dat
# (written_percent baseline dedup ideal, bytes).
load "plots/common.gp"
set title "Image size vs written ratio (fanout sweep)"
set xlabel "pages each child rewrote after fork (%)"
set ylabel "pages-*.img total (MiB)"
set xrange [-2:102]
set yrange [0:*]
set key bottom right
plot datadir."/written.dat" using 1:($2/MiB) with linespoints ls 1 title "baseline CRIU", \
     "" using 1:($3/MiB) with linespoints ls 2 title "dedup CRIU", \
     "" using 1:($4/MiB) with lines ls 3 title "ideal (each distinct page once)"
