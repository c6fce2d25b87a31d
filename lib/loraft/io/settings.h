#pragma once
/// @file
/// @brief Settings declared once. A configuration struct lists each of its fields in one
/// static `fields(self, visitor)` function: JSON key, member, command-line flag and help,
/// rule. JSON out (SettingsWriter), JSON in with type checks and unknown keys refused
/// (SettingsReader), validation (SettingsValidator) and the programs' flags (apps/common)
/// are visitors of that one list, so that adding a hyper-parameter is a one-line change.
///
/// @code
/// struct MyConfig {
///   double lr = 5e-5;
///   template <class Self, class Visitor>
///   static void fields(Self& c, Visitor&& v) {
///     v(io::setting("learning_rate", c.lr).flag("lr", "peak learning rate").rule(io::at_least(0.0), ">= 0"));
///   }
/// };
/// @endcode

#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "loraft/core/error.h"
#include "loraft/io/json.h"

namespace loraft::io {

/// The names of an enumeration's values, for JSON and flags: specialise with
/// `static const char* to_string(T)` and `static T parse(const std::string&, const std::string& where)`
/// (ConfigError for an unknown name).
template <class T>
struct EnumNames;

/// True for the types EnumNames is specialised for.
template <class T, class = void>
struct is_named_enum : std::false_type {};
/// True for the types EnumNames is specialised for.
template <class T>
struct is_named_enum<T, std::void_t<decltype(EnumNames<T>::to_string(std::declval<T>()))>> : std::true_type {};

/// How a setting's value is written to and read from JSON: integers stay integers, reals are
/// numbers, and a value of another JSON type is a ConfigError naming the key and the type wanted.
template <class T>
struct SettingCodec {
  /// The value as JSON.
  static Json write(const T& value) {
    if constexpr (is_named_enum<T>::value) {
      return EnumNames<T>::to_string(value);
    } else {
      return value;
    }
  }
  /// The JSON value `j` of key `where` as a T.
  static T read(const Json& j, const std::string& where) {
    if constexpr (is_named_enum<T>::value) {
      if (!j.is_string()) wrong(j, where, "a name");
      return EnumNames<T>::parse(j.get<std::string>(), where);
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!j.is_boolean()) wrong(j, where, "true or false");
      return j.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (!j.is_number_integer()) wrong(j, where, "an integer");
      if (std::is_unsigned_v<T> && j.get<std::int64_t>() < 0 && !j.is_number_unsigned())
        wrong(j, where, "a non-negative integer");
      return j.get<T>();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!j.is_number()) wrong(j, where, "a number");
      return j.get<T>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!j.is_string()) wrong(j, where, "a string");
      return j.get<std::string>();
    } else {
      static_assert(sizeof(T) == 0, "no SettingCodec for this type");
    }
  }
  /// ConfigError: `j` is not `expected`.
  [[noreturn]] static void wrong(const Json& j, const std::string& where, const char* expected) {
    throw ConfigError("value " + j.dump() + " has the wrong type", where, expected);
  }
};

/// Lists: a JSON array of the element's type.
template <class T>
struct SettingCodec<std::vector<T>> {
  /// The list as a JSON array.
  static Json write(const std::vector<T>& values) {
    Json out = Json::array();
    for (const auto& v : values) out.push_back(SettingCodec<T>::write(v));
    return out;
  }
  /// The JSON array `j` of key `where`.
  static std::vector<T> read(const Json& j, const std::string& where) {
    if (!j.is_array()) SettingCodec<T>::wrong(j, where, "a list");
    std::vector<T> out;
    for (const auto& item : j) out.push_back(SettingCodec<T>::read(item, where));
    return out;
  }
};

/// Optional values: JSON null when unset.
template <class T>
struct SettingCodec<std::optional<T>> {
  /// The value, or null.
  static Json write(const std::optional<T>& value) { return value ? SettingCodec<T>::write(*value) : Json(nullptr); }
  /// null as unset, else the value.
  static std::optional<T> read(const Json& j, const std::string& where) {
    if (j.is_null()) return std::nullopt;
    return SettingCodec<T>::read(j, where);
  }
};

/// How an absent setting (one whose `present` condition is false) is written.
enum class Absent {
  null,     ///< as JSON null (the key is always there)
  omitted,  ///< not at all (records written before the setting existed keep their hash)
};

/// One field of a configuration: its JSON key, the member, optionally a command-line flag
/// with its help, a rule its value must meet, and whether it applies to the current
/// configuration. Made by setting(); read by the visitors.
template <class T>
struct Setting {
  using Value = std::remove_const_t<T>;  ///< the member's type
  const char* key = "";                  ///< JSON key
  T* value = nullptr;                    ///< the member
  const char* flag_name = nullptr;       ///< command-line flag without `--`, or none
  const char* help = "";                 ///< the flag's help
  std::function<bool(const Value&)> ok;  ///< the rule (none: any value)
  const char* expected = "";             ///< the rule in words, for the error
  bool present = true;                   ///< applies to this configuration
  Absent absent = Absent::null;          ///< how it is written when not present

  /// Gives the setting a command-line flag.
  Setting& flag(const char* name, const char* flag_help) {
    flag_name = name;
    help = flag_help;
    return *this;
  }
  /// Its rule: `check(value)` must hold; `in_words` says what is expected.
  Setting& rule(std::function<bool(const Value&)> check, const char* in_words) {
    ok = std::move(check);
    expected = in_words;
    return *this;
  }
  /// Applies only when `condition` holds; otherwise written as `how` and not validated.
  Setting& only_if(bool condition, Absent how = Absent::null) {
    present = condition;
    absent = how;
    return *this;
  }
};

/// The setting `key` stored in `member`.
template <class T>
Setting<T> setting(const char* key, T& member) {
  Setting<T> s;
  s.key = key;
  s.value = &member;
  return s;
}

/// Rule: at least `low` and finite.
template <class T>
std::function<bool(const T&)> at_least(T low) {
  return [low](const T& v) { return v >= low && std::isfinite(static_cast<double>(v)); };
}
/// Rule: above `low` and finite.
template <class T>
std::function<bool(const T&)> above(T low) {
  return [low](const T& v) { return v > low && std::isfinite(static_cast<double>(v)); };
}
/// Rule: `low` <= value < `high`.
template <class T>
std::function<bool(const T&)> in_range(T low, T high) {
  return [low, high](const T& v) { return v >= low && v < high; };
}

/// Writes a configuration's settings into a JSON object.
class SettingsWriter {
 public:
  /// Writes one setting.
  template <class T>
  void operator()(const Setting<T>& s) {
    if (s.present) json_[s.key] = SettingCodec<typename Setting<T>::Value>::write(*s.value);
    else if (s.absent == Absent::null) json_[s.key] = nullptr;
  }
  /// Writes a nested configuration (its own fields()) as an object under `key`; when it does
  /// not apply, as `how` says (null, or no key at all).
  template <class C>
  void nested(const char* key, const C& config, bool present, Absent how = Absent::null) {
    if (!present) {
      if (how == Absent::null) json_[key] = nullptr;
      return;
    }
    SettingsWriter inner;
    C::fields(config, inner);
    json_[key] = inner.json();
  }
  /// What was written.
  const Json& json() const { return json_; }

 private:
  Json json_ = Json::object();
};

/// Reads a configuration's settings from a JSON object: a missing or null key keeps the
/// member's value; a value of the wrong type or an unknown key is a ConfigError naming
/// `where` and the key.
class SettingsReader {
 public:
  /// Reads from `json`, which must be an object.
  SettingsReader(const Json& json, std::string where) : json_(json), where_(std::move(where)) {
    if (!json_.is_object()) throw ConfigError("settings are not a JSON object", where_, "a JSON object");
  }
  /// Reads one setting.
  template <class T>
  void operator()(const Setting<T>& s) {
    known_.insert(s.key);
    auto it = json_.find(s.key);
    if (it == json_.end() || it->is_null()) return;
    *s.value = SettingCodec<typename Setting<T>::Value>::read(*it, where_ + ": " + s.key);
  }
  /// Reads a nested configuration from the object under `key` (null or missing: unchanged).
  template <class C>
  void nested(const char* key, C& config, bool /*present*/, Absent /*how*/ = Absent::null) {
    known_.insert(key);
    auto it = json_.find(key);
    if (it == json_.end() || it->is_null()) return;
    SettingsReader inner(*it, where_ + ": " + key);
    C::fields(config, inner);
    inner.refuse_unknown_keys();
  }
  /// ConfigError for a key no setting read.
  void refuse_unknown_keys() const {
    for (const auto& item : json_.items())
      if (!known_.count(item.key())) throw ConfigError("unknown key \"" + item.key() + "\"", where_, "a known setting");
  }

 private:
  const Json& json_;
  std::string where_;
  std::set<std::string> known_;
};

/// Checks each setting that applies against its rule: ConfigError("invalid <key>") naming the
/// key and what is expected.
class SettingsValidator {
 public:
  /// Checks one setting.
  template <class T>
  void operator()(const Setting<T>& s) const {
    if (s.present && s.ok && !s.ok(*s.value))
      throw ConfigError(std::string("invalid ") + s.key, s.key, s.expected);
  }
  /// Nested configurations validate themselves (their validate()).
  template <class C>
  void nested(const char* /*key*/, const C& /*config*/, bool /*present*/, Absent /*how*/ = Absent::null) const {}
};

/// Finds settings that a configuration was given but that do not apply to it (a LoRA rank for
/// a method without LoRA): ConfigError naming the setting and `context`, never a silent no-op.
/// Visit the configuration as it finally stands, so that each setting's `present` reflects the
/// values that decide it (the method). `given(flag_name_or_null, key_path)` says whether the
/// user set a setting (key_path: keys joined by dots, e.g. "lora.r"); a nested configuration
/// that does not apply is refused when any of its settings, or the object itself, was given.
template <class Given>
class InapplicableSettings {
 public:
  /// Errors name `context` ("method ia3") and the setting by its flag (`--r`, for settings
  /// given on the command line) or by its key path (`lora.r`, for settings read from JSON).
  InapplicableSettings(Given given, std::string context, bool by_flag)
      : given_(std::move(given)), context_(std::move(context)), by_flag_(by_flag) {}
  /// Checks one setting. A setting written as Absent::omitted always applies: it is left out
  /// of the record at its default only so that earlier records keep their hash.
  template <class T>
  void operator()(const Setting<T>& s) const {
    check(s.flag_name, path_ + s.key, (s.present || s.absent == Absent::omitted) && applies_);
  }
  /// Checks a nested configuration, which applies only when `present`.
  template <class C>
  void nested(const char* key, const C& config, bool present, Absent /*how*/ = Absent::null) const {
    InapplicableSettings inner(*this);
    inner.path_ = path_ + key + ".";
    inner.applies_ = present && applies_;
    C::fields(config, inner);
    check(nullptr, path_ + key, inner.applies_);
  }

 private:
  void check(const char* flag, const std::string& key_path, bool applies) const {
    if (applies || !given_(flag, key_path)) return;
    const std::string name = by_flag_ && flag ? std::string("--") + flag : key_path;
    throw ConfigError(name + " does not apply to " + context_, name, "only settings that " + context_ + " uses");
  }
  Given given_;
  std::string context_;
  bool by_flag_;
  std::string path_;     // keys of the enclosing nested configurations, each followed by '.'
  bool applies_ = true;  // false inside a nested configuration that does not apply
};

/// ConfigError for the first setting of `config` to which `json` (the object `config` was read
/// from by settings_from_json()) gives a non-null value although it does not apply to `config`
/// as read: a LoRA rank in a file whose method is ia3. `context` says what it does not apply
/// to ("method ia3").
template <class C>
void refuse_inapplicable_settings(const Json& json, const C& config, const std::string& context) {
  auto given = [&json](const char* /*flag*/, const std::string& key_path) {
    const Json* at = &json;
    for (std::size_t start = 0;;) {
      const std::size_t dot = key_path.find('.', start);
      const std::string part = key_path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!at->is_object()) return false;
      auto it = at->find(part);
      if (it == at->end() || it->is_null()) return false;
      if (dot == std::string::npos) return true;
      at = &*it;
      start = dot + 1;
    }
  };
  C::fields(config, InapplicableSettings<decltype(given)>(given, context, /*by_flag=*/false));
}

/// `config` as JSON, through its fields().
template <class C>
Json settings_to_json(const C& config) {
  SettingsWriter w;
  C::fields(config, w);
  return w.json();
}

/// A C read from `json` through its fields(), starting from `start` (unknown keys refused).
template <class C>
C settings_from_json(const Json& json, const std::string& where, C start = C{}) {
  SettingsReader r(json, where);
  C::fields(start, r);
  r.refuse_unknown_keys();
  return start;
}

/// Checks every rule of `config`'s fields().
template <class C>
void validate_settings(const C& config) {
  C::fields(config, SettingsValidator{});
}

}  // namespace loraft::io
