# common.gp - called by every plot script for each output format:
#   call "common.gp" "png"     (or "svg")
# Sets the terminal (W x H pixels, set by the caller), the output file
# out.".".FORMAT, the palette pal[] and the footnote (from plotdata:
# footnote, footnote_lines).  Text is noenhanced: op names hold "_".
if (ARG1 eq "png") {
	set terminal pngcairo size W,H noenhanced font "DejaVu Sans,11" background rgb "white"
} else {
	set terminal svg size W,H noenhanced font "DejaVu Sans,11" background rgb "white"
}
set output out.".".ARG1

# Tableau 10, then its light shades, for up to 20 series
array pal[20] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", \
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", \
                 "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", \
                 "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"]

# the footnote: machine, revision and the data's provenance, bottom left
set label 1000 footnote at screen 0.006, screen 0.012 + (footnote_lines - 1) * 13.0 / H \
	left front font ",9" textcolor rgb "#404040"
