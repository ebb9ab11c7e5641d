# regression.gp - plot 4: the regression report of `make perf-report`.
# Left the test rows (pp, tg), right the per-op profile rows that moved
# most.  Per row: each side's per-round times over the median of base's
# rounds (boxes: quartiles, whiskers: min-max, dots: rounds), the A/A
# noise band shaded around 1, the ratio head/base with its 95% CI (and
# the re-measurement's), and the verdict above.
# Input (gnuplot -e): data = the output of `plotdata regression`, out =
# the output path without extension.  See docs/plots.md.
#
# Per panel P (t: test rows, p: profile rows):
#   $P_row: 1 x, 2 band low, 3 band high, 4 ratio, 5 CI low, 6 CI high,
#     7 re-measured ratio, 8 its CI low, 9 high, 10 verdict code (0 no
#     change, 1 slower, 2 faster, 3 slower confirmed, 4 slower not
#     confirmed, 5 measured by one side only), 11 row name
#   $P_box: 1 x, 2 side (0 base, 1 head, 2 head A/A), 3 min, 4 q1,
#     5 median, 6 q3, 7 max
#   $P_pts: 1 x, 2 y, 3 side, 4 0 in range, 1 above, -1 below (drawn at
#     the edge); $P_off: 1 x, 2 y, 3 the value of such a point
#   P_lab[], P_code[]: the verdict text of each row, its code;
#   P_ymin, P_top: the data's range; P_tics: the y tics.
load data
W = 1700; H = 1000

array side_col[3] = ["#1f77b4", "#ff7f0e", "#bcbd22"]
array side_dot[3] = ["#0d3d60", "#8a4200", "#5e5e10"]
array side_name[3] = ["base", "head", "head again (A/A)"]
# label and ratio colour by verdict code
array vcol[6] = ["#555555", "#d62728", "#2ca02c", "#d62728", "#b8860b", "#999999"]
vrgb(c) = c == 1 || c == 3 ? 0xd62728 : c == 2 ? 0x2ca02c : c == 4 ? 0xb8860b : 0x333333
band_col = "#c9d6e6"
box_w = 0.15
is_side(s) = int(column(2)) == s
pt_side(s) = int(column(3)) == s

top = 0.855
bottom = 0.075 + (footnote_lines + 1) * 13.0 / H
n_left = n_t > 2 ? n_t : 2
n_right = n_p > 3 ? n_p : 3
share = 1.0 * n_left / (n_left + n_right)
split = 0.065 + (0.985 - 0.065 - 0.075) * (share > 0.3 ? share : 0.3)

do for [fmt in "png svg"] {
	call "common.gp" fmt
	set multiplot title title font ",13"
	do for [P in "t p"] {
		n = value("n_".P)
		ymin = value(P."_ymin")
		ytop = value(P."_top")
		yspan = log(ytop / ymin)
		# the top of the panel holds the verdict texts (pngcairo hangs a
		# text's lines down from its position)
		plot_h = (top - bottom) * H
		lab_frac = (value(P."_lab_lines") * 13.5 + 14) / plot_h
		ymax = ytop * exp(yspan * lab_frac / (1 - lab_frac))
		set border; set xtics; set ytics
		set lmargin at screen (P eq "t" ? 0.065 : split + 0.075)
		set rmargin at screen (P eq "t" ? split : 0.985)
		set tmargin at screen top
		set bmargin at screen bottom
		set logscale y 10
		set yrange [ymin:ymax]
		eval sprintf("set ytics (%s) nomirror font ',10'", value(P."_tics"))
		set format y "%g"
		set xrange [0.45:(n > 0 ? n : 1) + 0.55]
		xfont = P eq "t" ? ",12" : n > 8 ? ",9" : ",10"
		set xtics nomirror scale 0 font xfont
		set grid ytics lc rgb "#e4e4e4"
		set key off
		if (P eq "t") {
			set title "test rows: ms per batch (pp) or per token (tg)" font ",12"
			set ylabel "time / median of base's rounds (log scale; > 1: slower than base)" \
				font ",11"
		} else {
			set title p_title font ",12"
			set ylabel "time / median of base's rounds (log scale)" font ",11"
		}
		# the verdicts above the rows, the rows apart
		do for [i = 1:200] { unset label i }	# not the footnote's (1000)
		unset arrow
		# a smaller font where the rows are narrow
		slot = (P eq "t" ? split - 0.065 : 0.985 - split - 0.075) * W / (n > 0 ? n : 1)
		lfont = slot >= 110 ? ",9" : ",8"
		do for [i = 1:n] {
			set label i value(P."_lab")[i] at first i, graph 1 - 11 / plot_h center \
				font lfont tc rgb vcol[value(P."_code")[i] + 1] front
			if (i < n) {
				set arrow i from first i + 0.5, graph 0 to first i + 0.5, graph 1 \
					nohead lc rgb "#d0d0d0" back
			}
		}
		set arrow 100 from graph 0, first 1 to graph 1, first 1 nohead lc rgb "#606060" \
			dt 2 back
		set arrow 101 from graph 0, first ytop to graph 1, first ytop nohead \
			lc rgb "#e0e0e0" back
		if (n == 0) {
			set label 200 "no profile rows in this report" at graph 0.5, graph 0.5 center
		}
		row = "$".P."_row"; box = "$".P."_box"; pts = "$".P."_pts"; off = "$".P."_off"
		plot row using 1:(NaN):xtic(11) notitle, \
		     row using 1:(1):($1 - 0.45):($1 + 0.45):2:3 with boxxyerror \
			fs solid 1 noborder lc rgb band_col notitle, \
		     for [s = 0:2] box using (is_side(s) ? $1 : NaN):4:3:7:6:(box_w) \
			with candlesticks whiskerbars 0.5 lc rgb side_col[s + 1] lw 1.2 \
			fs solid 0.45 border notitle, \
		     for [s = 0:2] box using (is_side(s) ? $1 : NaN):5:5:5:5:(box_w) \
			with candlesticks lw 2.5 lc rgb side_dot[s + 1] notitle, \
		     for [s = 0:2] pts using (pt_side(s) && $4 == 0 ? $1 : NaN):2 with points \
			pt 7 ps 0.5 lc rgb side_dot[s + 1] notitle, \
		     for [s = 0:2] pts using (pt_side(s) && $4 > 0 ? $1 : NaN):2 with points \
			pt 9 ps 1.1 lc rgb side_dot[s + 1] notitle, \
		     for [s = 0:2] pts using (pt_side(s) && $4 < 0 ? $1 : NaN):2 with points \
			pt 11 ps 1.1 lc rgb side_dot[s + 1] notitle, \
		     off using 1:2:3 with labels left offset 0.7, 0 font ",8" \
			tc rgb "#404040" notitle, \
		     row using ($1 + 0.23):4:5:6:(vrgb($10)) with yerrorbars pt 13 ps 1.5 lw 1.5 \
			lc rgb variable notitle, \
		     row using ($1 + 0.35):7:8:9:(vrgb($10)) with yerrorbars pt 12 ps 1.5 lw 1.5 \
			lc rgb variable notitle
	}
	# the key: a strip of its own under the title, across both panels
	set lmargin at screen 0.03
	set rmargin at screen 0.97
	set tmargin at screen 0.955
	set bmargin at screen top + 0.04
	unset border; unset xtics; unset ytics; unset title; unset xlabel; unset ylabel
	unset grid; unset arrow; unset logscale y
	do for [i = 1:200] { unset label i }
	set key center center horizontal maxcols 4 Left reverse font ",10" samplen 1.5 width 1
	set xrange [0:1]; set yrange [0:1]
	plot NaN notitle, \
	     for [s = 1:3] keyentry with boxes lc rgb side_col[s] \
		fs solid 0.45 border \
		title side_name[s], \
	     keyentry with points pt 7 ps 0.6 lc rgb "#404040" \
		title "dot: one round (that process's median); box: quartiles, median; whiskers: min-max", \
	     keyentry with boxes fs solid 1 noborder lc rgb band_col \
		title "A/A noise band [1/b, b]: head against itself", \
	     keyentry with yerrorbars pt 13 ps 1.5 lc rgb "#333333" \
		title "ratio head/base, geometric mean, 95% CI (red slower, green faster)", \
	     keyentry with yerrorbars pt 12 ps 1.5 lc rgb "#333333" \
		title "ratio re-measured (a slower pp/tg row), 95% CI", \
	     keyentry with points pt 9 ps 1.1 lc rgb "#404040" \
		title "a round off the scale, at the edge, with its value"
	unset multiplot
	unset output
}
