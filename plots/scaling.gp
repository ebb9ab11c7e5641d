# scaling.gp - plot 5: tokens/s against the prompt batch size (left) and
# against threads (right), one line per config, matmul variant and thread
# count (left) or row (right), each point with the 95% CI of its median.
# Input (gnuplot -e): data = the output of `plotdata scaling`, out = the
# output path without extension.  See docs/plots.md.
load data
W = 1400; H = 750

set grid xtics ytics lc rgb "#dddddd"
set key top left Left reverse font ",9" spacing 1.1 box lc rgb "#c0c0c0" opaque
set yrange [0:*]
set offsets 0, 0, graph 0.25, 0	# room for the key above the lines
set ylabel "tokens/s (prompt: batch tokens per second; decode: 1 / time per token)"
bottom = 0.09 + footnote_lines * 13.0 / H

do for [fmt in "png svg"] {
	call "common.gp" fmt
	set multiplot layout 1, 2 title title font ",13" margins 0.06, 0.985, bottom, 0.9 \
		spacing 0.07, 0
	# left: prompt batch size
	set title "against the prompt batch size (pp rows)" font ",11"
	set logscale x 2
	set xlabel "prompt batch size (tokens per batch, log scale)"
	set xtics 2 format "%g"
	set xrange [*:*]
	if (n_batch > 0) {
		unset label 10
		plot for [k = 1:n_batch] $batch index (k - 1) using 1:2:3:4 with yerrorlines \
			lw 2 pt 7 ps 1 lc rgb pal[k] title batch_title[k]
	} else {
		set label 10 "no sweep: rows at one prompt size only\n(run ./bench --pp N for several N)" \
			at graph 0.5, graph 0.5 center
		set xrange [1:64]; set yrange [0:1]
		plot NaN notitle
		set yrange [0:*]
	}
	# right: threads
	set title "against threads (every row kind: pp batches and tg decode)" font ",11"
	unset logscale x
	set xlabel "threads"
	set xtics 1 format "%g"
	set xrange [0.8:threads_max + 0.2]
	if (n_threads > 0) {
		unset label 10
		plot for [k = 1:n_threads] $threads index (k - 1) using 1:2:3:4 with yerrorlines \
			lw 2 pt 7 ps 1 lc rgb pal[k] title threads_title[k]
	} else {
		set label 10 "no sweep: rows at one thread count only\n(run ./bench --threads T for several T)" \
			at graph 0.5, graph 0.5 center
		set yrange [0:1]
		plot NaN notitle
		set yrange [0:*]
	}
	unset multiplot
	unset output
}
