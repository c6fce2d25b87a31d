#pragma once
/// @file
/// @brief What every loraft program shares: one declaration per flag, `--help`, and one
/// clear line with exit status 2 for any loraft::Error.
///
/// A program keeps its flags in one struct that declares each flag once:
/// @code
/// struct Flags {
///   std::string vocab;
///   int max_length = 128;
///   void declare(loraft::app::Options& o) {
///     o.required("vocab", vocab, "path of the WordPiece vocab.txt");
///     o.optional("max-length", max_length, "tokens per row, [CLS] and [SEP] included");
///   }
/// };
/// int main(int argc, char** argv) {
///   return loraft::app::run(argc, argv, "loraft-x", "Does x.", [](Flags& f) { ...; return 0; });
/// }
/// @endcode

#include <deque>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "loraft/io/settings.h"

namespace loraft::app {

/// Collects a program's flags; each flag is bound to a member of the program's flag struct.
class Options {
 public:
  /// A flag with a default: the member's current value, shown by `--help`.
  template <typename T>
  void optional(const char* name, T& target, const char* help) {
    desc_.add_options()(name, boost::program_options::value<T>(&target)->default_value(target),
                        help);
  }
  /// A number flag with a default and the values `min` to `max`: anything else is a
  /// ConfigError naming the flag, before the program starts work.
  template <typename T>
  void optional(const char* name, T& target, const char* help, T min, T max) {
    static_assert(std::is_arithmetic_v<T>);
    desc_.add_options()(name,
                        boost::program_options::value<T>(&target)->default_value(target)->notifier(
                            [name, min, max](const T& v) {
                              if (v < min || v > max)
                                throw ConfigError("--" + std::string(name) + " " + std::to_string(v) + " out of range",
                                                  "command line", std::to_string(min) + " to " + std::to_string(max));
                            }),
                        help);
  }
  /// A flag the user must give.
  template <typename T>
  void required(const char* name, T& target, const char* help) {
    desc_.add_options()(name, boost::program_options::value<T>(&target)->required(), help);
  }
  /// A flag that may repeat (`--x a --x b`) or take several values.
  template <typename T>
  void multiple(const char* name, std::vector<T>& target, const char* help) {
    desc_.add_options()(name, boost::program_options::value<std::vector<T>>(&target)->multitoken(),
                        help);
  }
  /// An on/off switch (false unless given).
  void flag(const char* name, bool& target, const char* help) {
    desc_.add_options()(name, boost::program_options::bool_switch(&target), help);
  }
  /// The underlying description (for printing or parsing).
  boost::program_options::options_description& description() { return desc_; }
  /// After parse(): whether the user gave flag `name` (not just its default).
  bool given(const char* name) const { return vm_.count(name) > 0 && !vm_[name].defaulted(); }

 private:
  friend bool parse(int, char**, const std::string&, const std::string&, Options&);
  boost::program_options::options_description desc_{"Options", 100};
  boost::program_options::variables_map vm_;
};

/// Declares a flag for each setting of a configuration's `fields()` that has one
/// (io/settings.h), so that a setting's flag, help and default come from its one declaration.
/// Enumerations travel as their names; apply() turns them back after parse().
class SettingFlags {
 public:
  /// Flags go into `options`, which must outlive this.
  explicit SettingFlags(Options& options) : options_(options) {}
  SettingFlags(const SettingFlags&) = delete;             ///< holds addresses given to Boost
  SettingFlags& operator=(const SettingFlags&) = delete;  ///< holds addresses given to Boost

  /// Declares `--<flag>` for one setting.
  template <class T>
  void operator()(const io::Setting<T>& s) {
    using V = typename io::Setting<T>::Value;
    if (!s.flag_name) return;
    if constexpr (io::is_named_enum<V>::value) {
      std::string& text = names_.emplace_back(io::EnumNames<V>::to_string(*s.value));
      options_.optional(s.flag_name, text, s.help);
      conversions_.push_back([target = s.value, &text, flag = std::string("--") + s.flag_name] {
        *target = io::EnumNames<V>::parse(text, flag);
      });
    } else if constexpr (std::is_same_v<V, std::optional<std::string>>) {
      // Unset unless given: the flag's text goes into the member only when the user gave it.
      std::string& text = names_.emplace_back(s.value->value_or(""));
      options_.optional(s.flag_name, text, s.help);
      conversions_.push_back([target = s.value, &text, flag = std::string(s.flag_name), this] {
        if (options_.given(flag.c_str())) *target = text;
      });
    } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
      options_.multiple(s.flag_name, *s.value, s.help);
    } else if constexpr (std::is_arithmetic_v<V> || std::is_same_v<V, std::string>) {
      options_.optional(s.flag_name, *s.value, s.help);
    } else {
      throw std::logic_error(std::string("no command-line form for setting ") + s.key);
    }
  }
  /// The flags of a nested configuration.
  template <class C>
  void nested(const char* /*key*/, C& config, bool /*present*/, io::Absent /*how*/ = io::Absent::null) {
    C::fields(config, *this);
  }
  /// After parse(): the enumerations' names into their members (ConfigError for a bad name).
  void apply() const {
    for (const auto& convert : conversions_) convert();
  }
  /// After apply(): ConfigError for a flag the user gave that does not apply to `config` as it
  /// now stands (`--r` with `--method ia3`), naming the flag and `context` ("method ia3").
  template <class C>
  void refuse_inapplicable(const C& config, const std::string& context) const {
    auto given = [this](const char* flag, const std::string& /*key_path*/) {
      return flag != nullptr && options_.given(flag);
    };
    C::fields(config, io::InapplicableSettings<decltype(given)>(given, context, /*by_flag=*/true));
  }

 private:
  Options& options_;
  std::deque<std::string> names_;  // stable addresses for Boost
  std::vector<std::function<void()>> conversions_;
};

/// The value of `--<name> VALUE` or `--<name>=VALUE` in argv, or empty: for a flag that
/// must be known before the others are declared (a config file that supplies defaults).
std::string find_flag(int argc, char** argv, const std::string& name);

/// Parses argv into the flags. Returns false after printing help (for `--help`), throws
/// ConfigError (as a loraft::Error) for unknown or malformed flags.
bool parse(int argc, char** argv, const std::string& program, const std::string& summary,
           Options& options);

/// Runs `body`, turning any loraft::Error or bad flag into `program: error: <message>` on
/// stderr and exit status 2; other exceptions give status 1.
int guard(const std::string& program, const std::function<int()>& body);

/// parse() then body(flags), inside guard(): the whole main() of a typical program.
template <typename Flags>
int run(int argc, char** argv, const std::string& program, const std::string& summary,
        const std::function<int(Flags&)>& body) {
  return guard(program, [&] {
    Flags flags;
    Options options;
    flags.declare(options);
    if (!parse(argc, argv, program, summary, options)) return 0;
    return body(flags);
  });
}

}  // namespace loraft::app
