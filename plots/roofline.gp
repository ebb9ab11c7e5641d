# roofline.gp - plot 1: the machine's measured roofs, and every profiled
# op with MACs placed by arithmetic intensity and achieved GMAC/s.
# Input (gnuplot -e): data = the output of `plotdata roofline`, out = the
# output path without extension.  See docs/plots.md.
load data
W = 1200; H = 800

top = 0
do for [i = 1:n_isa] { top = isa_peak[i] > top ? isa_peak[i] : top }
# the bandwidth diagonal up to the highest peak; each peak from its knee
roof_bw(x) = bw * x <= top * 1.0001 ? bw * x : NaN
roof_peak(x, p) = x >= p / bw ? p : NaN

set title title font ",13"
set logscale xy 10
set xrange [xmin:xmax]
set yrange [ymin:ymax]
set xlabel "arithmetic intensity (MACs per byte moved, counted from the shapes)"
set ylabel "achieved throughput (GMAC/s)"
set format x "%g"
set format y "%g"
set grid xtics ytics mxtics mytics lc rgb "#cccccc" lw 1, lc rgb "#eeeeee" lw 1
set samples 4000
set bmargin footnote_lines + 4
set key inside right bottom vertical Left reverse spacing 1.3 box lc rgb "#c0c0c0" opaque

do for [fmt in "png svg"] {
	call "common.gp" fmt
	plot roof_bw(x) lw 3 lc rgb "black" \
		title sprintf("read bandwidth %.1f GB/s", bw), \
	     for [i = 1:n_isa] roof_peak(x, isa_peak[i]) lw 3 dt i+1 lc rgb "#606060" \
		title sprintf("int8 peak %s: %.0f GMAC/s", isa_name[i], isa_peak[i]), \
	     for [k = 1:n_ser] $ops index (k - 1) using 1:2 with points \
		pt (ser_phase[k] == 0 ? 7 : 9) ps 2.2 lc rgb pal[ser_op[k]] title ser_title[k], \
	     keyentry with points pt 6 ps 2 lc rgb "black" title sprintf("circle: prompt batch (%s)", pp_test), \
	     keyentry with points pt 8 ps 2 lc rgb "black" title sprintf("triangle: decode (%s)", tg_test)
	unset output
}
