# profile.gp - plot 2: stacked ms per op of one forward pass, one panel per
# phase (each on its own scale), default vs tuned config side by side.
# Input (gnuplot -e): data = the output of `plotdata profile`, out = the
# output path without extension.  See docs/plots.md.
load data
W = 1200; H = 800

set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border lc rgb "white"
set boxwidth 0.6
set grid ytics lc rgb "#dddddd"
set xtics nomirror scale 0 font ",10"
set xrange [-0.7:1.7]
colour(i) = has_other && i == n_col ? "#b0b0b0" : pal[i]
bottom = 0.09 + (footnote_lines + 1) * 13.0 / H

do for [fmt in "png svg"] {
	call "common.gp" fmt
	set multiplot title title font ",13"
	do for [ph in "pp tg"] {
		n = value("has_".ph)
		set lmargin at screen (ph eq "pp" ? 0.07 : 0.47)
		set rmargin at screen (ph eq "pp" ? 0.38 : 0.78)
		set tmargin at screen 0.88
		set bmargin at screen bottom
		set yrange [0:value(ph."_max") * 1.2]
		set title (ph eq "pp" ? sprintf("prompt phase: %s, ms per batch", pp_test) : \
			sprintf("decode phase: %s, ms per token", tg_test)) font ",11"
		set ylabel (ph eq "pp" ? "ms per forward pass (one batch)" : "ms per forward pass (one token)")
		# the key once, right of both panels, top to bottom as stacked
		if (ph eq "tg") {
			set key at screen 0.99, screen 0.88 right top vertical Left reverse invert \
				spacing 1.2 box lc rgb "#c0c0c0" font ",10"
		} else {
			set key off
		}
		if (n == 0) {
			set label 10 sprintf("no %s profile in these runs", ph) at graph 0.5, graph 0.5 center
		} else {
			unset label 10
		}
		plot for [i = 1:n_col] "$".ph using (column(i + 1)):xtic(1) lc rgb colour(i) \
			title col_name[i], \
		     "$".ph."_totals" using 1:2:3 with labels offset 0, 1.3 font ",9" notitle
	}
	unset multiplot
	unset output
}
