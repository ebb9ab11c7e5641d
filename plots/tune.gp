# tune.gp - plot 3: the tuner's decisions, one panel per phase: every
# candidate's in-situ time with its 95% CI next to the incumbent it was
# compared with, the winner marked; rejected, crashed and hung candidates
# named at the left edge.
# Input (gnuplot -e): data = the output of `plotdata tune`, out = the
# output path without extension.  See docs/plots.md.
#
# Columns of $prompt and $decode: 1 y, 2 time, 3 CI low, 4 CI high,
# 5 the incumbent's time in the same comparison, 6 kind (0 incumbent
# row, 1 keep, 2 win, 3 rejected, 4 crashed, 5 hung), 7 winner (0/1),
# 8 label, 9 note.
load data
W = 1600; H = 1000

set logscale x 10
set xrange [xmin:xmax]
set format x "%g"
set grid xtics mxtics lc rgb "#d8d8d8", lc rgb "#f0f0f0"
set ytics nomirror scale 0 font ",9"
set xtics font ",10"
x_none = xmin * 1.5	# where a candidate without a time is drawn
is(k) = int(column(6)) == k
top = 0.85
bottom = 0.07 + (footnote_lines + 1) * 13.0 / H

do for [fmt in "png svg"] {
	call "common.gp" fmt
	set multiplot title title font ",13"
	do for [ph in "prompt decode"] {
		set border; set xtics; set ytics; set mxtics 10; set logscale x 10
		set grid xtics mxtics lc rgb "#d8d8d8", lc rgb "#f0f0f0"
		set xrange [xmin:xmax]
		n = value("n_".ph)
		set lmargin at screen (ph eq "prompt" ? 0.2 : 0.685)
		set rmargin at screen (ph eq "prompt" ? 0.49 : 0.985)
		set tmargin at screen top
		set bmargin at screen bottom
		set yrange [(n > 0 ? n : 1) + 0.7:0.3]
		set title sprintf("%s phase", ph) font ",12"
		set xlabel sprintf("in-situ time of the op, %s (log scale)", value(ph."_unit")) \
			font ",10"
		if (n == 0) {
			set label 10 "no evaluation logged for this phase" at graph 0.5, graph 0.5 center
		} else {
			unset label 10
		}
		set key off
		d = "$".ph
		plot d using (NaN):1:ytic(8) notitle, \
		     "$".ph."_sep" using (xmin):1:(xmax - xmin):(0) with vectors nohead \
			lc rgb "#aaaaaa" dt 2 notitle, \
		     d using (is(1) || is(2) ? $5 : NaN):1:($2 - $5):(0) with vectors nohead \
			lc rgb "#bbbbbb" lw 1.5 notitle, \
		     d using (is(1) || is(2) ? $5 : NaN):1 with points pt 6 ps 1.2 \
			lc rgb "#888888" notitle, \
		     d using (is(0) ? $2 : NaN):1:3:4 with xerrorbars pt 13 ps 1.6 \
			lc rgb "#555555" notitle, \
		     d using (is(1) ? $2 : NaN):1:3:4 with xerrorbars pt 7 ps 1.3 \
			lc rgb "#1f77b4" notitle, \
		     d using (is(2) ? $2 : NaN):1:3:4 with xerrorbars pt 7 ps 1.5 \
			lc rgb "#2ca02c" notitle, \
		     d using ($7 == 1 && $2 == $2 ? $2 : NaN):1 with points pt 6 ps 3.2 lw 2.5 \
			lc rgb "#2ca02c" notitle, \
		     d using (is(3) ? x_none : NaN):1 with points pt 2 ps 1.5 lw 2 \
			lc rgb "#d62728" notitle, \
		     d using (is(4) || is(5) ? x_none : NaN):1 with points pt 3 ps 1.6 lw 2 \
			lc rgb "black" notitle, \
		     d using (is(3) || is(4) || is(5) ? x_none : NaN):1:9 with labels left \
			offset 1.5, 0 font ",9" tc rgb "#b00000" notitle
	}
	# the key: a strip of its own under the title, across both panels
	set lmargin at screen 0.03
	set rmargin at screen 0.97
	set tmargin at screen 0.955
	set bmargin at screen top + 0.035
	unset border; unset xtics; unset ytics; unset mxtics; unset title; unset xlabel
	unset grid; unset label 10
	set key center center horizontal maxcols 4 Left reverse font ",10" samplen 1 width 1
	unset logscale x
	set xrange [0:1]; set yrange [0:1]
	plot NaN notitle, \
	     keyentry with points pt 6 ps 1.2 lc rgb "#888888" \
		title "incumbent, in the same comparison", \
	     keyentry with xerrorbars pt 13 ps 1.6 lc rgb "#555555" \
		title "incumbent row: median, range over its comparisons", \
	     keyentry with xerrorbars pt 7 ps 1.3 lc rgb "#1f77b4" \
		title "candidate lost: the incumbent stays (95% CI)", \
	     keyentry with xerrorbars pt 7 ps 1.5 lc rgb "#2ca02c" \
		title "candidate won: faster, significant (95% CI)", \
	     keyentry with points pt 6 ps 2.5 lw 2.5 lc rgb "#2ca02c" \
		title "*  the variant chosen", \
	     keyentry with points pt 2 ps 1.5 lw 2 lc rgb "#d62728" \
		title "rejected by the correctness gate", \
	     keyentry with points pt 3 ps 1.6 lw 2 lc rgb "black" \
		title "crashed or hung (no time)"
	unset multiplot
	unset output
}
