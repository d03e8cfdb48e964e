# Total PSS of the tree before the dump and after restore, per scenario.
# Data: pss.dat (scenario before after_baseline after_dedup, bytes).
load "plots/common.gp"
set title "Tree memory (total PSS) before dump and after restore"
set ylabel "total PSS of the tree (MiB)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics rotate by -35 left
set yrange [0:*]
set key top left
set bmargin 6
set rmargin 6
plot datadir."/pss.dat" using ($2/MiB):xtic(1) lc rgb "#7f7f7f" title "before dump", \
     "" using ($3/MiB) lc rgb "#d62728" title "after restore, baseline", \
     "" using ($4/MiB) lc rgb "#1f77b4" title "after restore, dedup"
