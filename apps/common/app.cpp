#include "common/app.h"

#include <csignal>
#include <filesystem>

#include "loraft/core/error.h"
#include "loraft/core/strings.h"

namespace loraft::app {
namespace po = boost::program_options;

bool parse(int argc, char** argv, const std::string& program, const std::string& summary,
           Options& options) {
  po::options_description all;
  all.add_options()("help,h", "print this help and exit");
  all.add(options.description());
  po::variables_map& vm = options.vm_;
  try {
    po::store(po::parse_command_line(argc, argv, all), vm);
    if (vm.count("help")) {
      std::cout << "usage: " << program << " [options]\n" << summary << "\n\n" << all << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw ConfigError(e.what(), "command line", "see " + program + " --help");
  }
  return true;
}

std::string find_flag(int argc, char** argv, const std::string& name) {
  const std::string flag = "--" + name;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == flag && i + 1 < argc) return argv[i + 1];
    if (starts_with(arg, flag + "=")) return arg.substr(flag.size() + 1);
  }
  return {};
}

int guard(const std::string& program, const std::function<int()>& body) {
  // A write past the file-size limit (`ulimit -f`) fails with EFBIG, reported like a full
  // disk, instead of killing the program without a word.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    return body();
  } catch (const Interrupted& e) {
    // Ctrl-C or SIGTERM: the run stopped cleanly and resumes; the shell's status for a signal.
    std::cerr << program << ": " << e.what() << "\n";
    return e.signal() != 0 ? 128 + e.signal() : 2;
  } catch (const Error& e) {
    std::cerr << program << ": error: " << e.what() << "\n";
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    // The file system refused (a folder that is a file, read-only, full): the user's to fix.
    std::cerr << program << ": error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << program << ": internal error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace loraft::app
