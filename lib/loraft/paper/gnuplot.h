#pragma once
/// @file
/// @brief The paper's figures: one gnuplot style for all, each figure drawn as PDF (for the
/// paper) and PNG (for reading) from a script kept beside them.

#include <filesystem>
#include <string>
#include <vector>

namespace loraft::paper {

/// `s` inside a single-quoted gnuplot string (where '' is one quote).
std::string gnuplot_quote(const std::string& s);

/// What a figure is and where it goes.
struct Figure {
  std::filesystem::path base;     ///< BASE.pdf, BASE.png and BASE.gp are written
  std::string comment;            ///< the script's first line (who made it)
  std::filesystem::path results;  ///< the gnuplot variable RESULTS: where its CSV tables are
  std::string script;             ///< plot commands after the common style
  double width = 6.5;             ///< PDF width in inches (the PNG keeps the proportions)
  double height = 4.5;            ///< PDF height in inches
};

/// Writes `figure.base`.gp (the common style and `script`, once for PDF, once for PNG) and runs
/// gnuplot on it; returns the files made. With LORAFT_NO_PLOT=1 (machines without gnuplot)
/// only the script is written: `gnuplot BASE.gp` draws it elsewhere. IoError if gnuplot fails
/// (its messages are left in BASE.gnuplot.log).
std::vector<std::filesystem::path> draw(const Figure& figure);

}  // namespace loraft::paper
