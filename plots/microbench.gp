# microbench.gp - plot 6: matmul_q8 GMAC/s of every variant per weight
# shape and tokens per call (./microbench, 1 thread), with the measured
# 1-thread int8 peaks of roofline.json as dashed lines.
# Input (gnuplot -e): data = the output of `plotdata microbench`, out =
# the output path without extension.  See docs/plots.md.
#
# $mb: one row per (shape, tokens); column 1 the label, then per variant
# v the median, low and high (columns 3v-1, 3v, 3v+1).
load data
W = 1600; H = 850

set title title font ",13"
set style data histograms
set style histogram errorbars gap 1.5 lw 1
set errorbars lc rgb "black" lw 1
set style fill solid 0.9 border lc rgb "white"
set logscale y 10
set yrange [ymin:ymax]
set xrange [-0.6:n_grp - 0.4]
set format y "%g"
set ylabel "GMAC/s (10^9 int8 multiply-accumulates per second, log scale)"
set xlabel "weight shape (rows x cols) and tokens per call" offset 0, -1
set xtics nomirror scale 0 font ",10"
set grid ytics mytics lc rgb "#d8d8d8", lc rgb "#f0f0f0"
set key outside right top vertical Left reverse font ",10" spacing 1.2 box lc rgb "#c0c0c0"
set bmargin footnote_lines + 6
# the clusters of one token count apart
do for [i = 1:n_sep] {
	set arrow i from first sep[i], graph 0 to first sep[i], graph 1 nohead \
		lc rgb "#999999" dt 2
}

do for [fmt in "png svg"] {
	call "common.gp" fmt
	plot for [v = 1:n_var] $mb using (column(3 * v - 1)):(column(3 * v)):(column(3 * v + 1)):xtic(1) \
		lc rgb pal[v] title var_name[v], \
	     for [i = 1:n_peak] peak[i] with lines lw 2 dt i+1 lc rgb "#404040" \
		title sprintf("1-thread int8 peak, %s: %.0f", peak_name[i], peak[i])
	unset output
}
