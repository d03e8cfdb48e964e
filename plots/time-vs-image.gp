# Dump and restore wall time (median over repeats, hyperfine) against the
# image size, every case of the run. Data: time.dat (variant image_bytes
# dump_s restore_s), one block per variant: baseline (index 0), dedup (1).
load "plots/common.gp"
set title "Dump and restore time vs image size (dumps on tmpfs)"
set xlabel "pages-*.img total (MiB)"
set ylabel "wall time (s)"
set xrange [0:*]
set yrange [0:*]
set key top left
plot datadir."/time.dat" index 0 using ($2/MiB):3 with points ls 1 pt 7 title "dump, baseline", \
     "" index 1 using ($2/MiB):3 with points ls 2 pt 5 title "dump, dedup", \
     "" index 0 using ($2/MiB):4 with points ls 1 pt 6 title "restore, baseline", \
     "" index 1 using ($2/MiB):4 with points ls 2 pt 4 title "restore, dedup"
