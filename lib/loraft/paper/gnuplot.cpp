#include "loraft/paper/gnuplot.h"

#include <cstdlib>
#include <sstream>

#include "loraft/core/error.h"
#include "loraft/core/strings.h"
#include "loraft/io/file.h"

namespace loraft::paper {
namespace fs = std::filesystem;

namespace {

// One style for every figure: colours, grid, fonts, CSV input with a header row.
const char* kStyle = R"(set datafile separator ','
set datafile columnheaders
set border 3
set tics nomirror out
set grid ytics lc rgb '#d9d9d9' lw 1 dt 2
set key noopaque box lc rgb '#bbbbbb'
set style fill solid 0.85 border lc rgb '#333333'
set boxwidth 0.6
set bars 0.6
set linetype 1 lc rgb '#1b6ca8' lw 2 pt 7 ps 0.8
set linetype 2 lc rgb '#d1495b' lw 2 pt 5 ps 0.8
set linetype 3 lc rgb '#2e8b57' lw 2 pt 9 ps 0.9
set linetype 4 lc rgb '#edae49' lw 2 pt 11 ps 0.9
set linetype 5 lc rgb '#6a4c93' lw 2 pt 13 ps 0.9
set linetype 6 lc rgb '#00798c' lw 2 pt 3 ps 0.9
)";

}  // namespace

std::string gnuplot_quote(const std::string& s) {
  std::string q;
  for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q;
}

std::vector<fs::path> draw(const Figure& f) {
  const std::string base = f.base.string();
  std::ostringstream gp;
  gp << "# " << f.comment << "\n";
  for (const std::string kind : {"pdf", "png"}) {
    if (kind == "pdf")
      gp << "set terminal pdfcairo enhanced color font 'Helvetica,9' size " << f.width << "in," << f.height
         << "in\n";
    else
      gp << "set terminal pngcairo enhanced font 'Helvetica,10' size " << static_cast<int>(f.width * 130) << ","
         << static_cast<int>(f.height * 130) << "\n";
    gp << "set output '" << gnuplot_quote(base) << "." << kind << "'\n"
       << "reset session\nRESULTS = '" << gnuplot_quote(f.results.string()) << "'\n"
       << kStyle << f.script << "\nunset multiplot\nset output\n";
  }
  const fs::path gp_file = base + ".gp";
  io::write_file_atomic(gp_file, gp.str());
  if (const char* no_plot = std::getenv("LORAFT_NO_PLOT"); no_plot && std::string(no_plot) == "1") return {gp_file};
  const std::string log = base + ".gnuplot.log";
  const std::string command = "gnuplot " + shell_quote(gp_file.string()) + " 2>" + shell_quote(log);
  if (std::system(command.c_str()) != 0)
    throw IoError("gnuplot failed on " + gp_file.string() + " (see " + log +
                  "; scripts/install-deps.sh installs gnuplot)");
  fs::remove(log);
  return {base + ".pdf", base + ".png", gp_file};
}

}  // namespace loraft::paper
