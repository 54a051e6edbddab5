// Options shared by several commands, each checked while parsing so that a bad value is a usage error
// naming the option, before any device or model is opened.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "commands.hpp"
#include "vkformer/tuning.hpp"

namespace vkformer::cli {

namespace {

// An index too long for any machine's device count (stoul would throw out_of_range). Smaller indices
// and names are checked against the devices found, when the context is created.
std::string check_device(const std::string& value) {
  const bool index =
      !value.empty() && std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); });
  if (index && value.size() > 9) return fmt::format("{} is not a device index (see `vkformer devices`)", value);
  return {};
}

std::vector<std::string> tuning_names() {
  std::vector<std::string> names;
  for (const auto& tuning : tuning_table()) names.push_back(tuning.name);
  return names;
}

}  // namespace

void add_device_options(CLI::App* command, ContextOptions& context) {
  command->add_option("--device", context.device, "Device index or name substring")
      ->check(CLI::Validator(check_device, "INDEX|NAME"));
  command->add_option("--tuning", context.tuning, "Tuning table entry")->check(CLI::IsMember(tuning_names()));
  command->add_option("--cpu-threads", context.cpu_threads,
                      "CPU drivers (lavapipe): worker threads; 0 runs each dispatch on the submitting thread, "
                      "faster for a small model at a sentence at a time (default: LP_NUM_THREADS, then one per core)")
      ->check(CLI::Range(0, 256));
}

namespace {
// A string option checked against the element names, so that --help lists them rather than CLI11's enum
// mapping.
CLI::Option* add_element_option(CLI::App* command, const std::vector<Element>& elements,
                                const std::function<void(Element)>& set, const std::string& description) {
  std::vector<std::string> names;
  for (Element element : elements) names.push_back(element_name(element));
  return command
      ->add_option_function<std::string>(
          "--precision",
          [set, elements](const std::string& name) {
            for (Element element : elements) {
              if (CLI::detail::to_lower(name) == element_name(element)) set(element);
            }
          },
          description)
      ->check(CLI::IsMember(names, CLI::ignore_case));
}
}  // namespace

void add_precision_option(CLI::App* command, Element& precision, const std::string& description) {
  add_element_option(command, {Element::f32, Element::f16, Element::bf16, Element::i8, Element::i16},
                     [&precision](Element element) { precision = element; }, description + " (default: f32)");
}

void add_model_options(CLI::App* command, std::string& model, ContextOptions& context,
                       std::optional<Element>& precision) {
  command->add_option("--model", model,
                      "Model: a Hugging Face Marian directory, a CTranslate2 directory (model.bin), or an Argos "
                      "Translate package (.argosmodel or its directory); default: the shipped en-de");
  add_device_options(command, context);
  add_weights_option(command, precision);
}

void add_weights_option(CLI::App* command, std::optional<Element>& precision) {
  add_element_option(command, {Element::f32, Element::f16, Element::i8},
                     [&precision](Element element) { precision = element; },
                     "Weight matrices converted on load to f32, f16, or i8 (per row, as CTranslate2 quantizes); "
                     "compute is f32 (default: as the model stores them)");
}

CLI::Validator finite_between(double low, double high) {
  const auto check = [low, high](const std::string& value) -> std::string {
    double number = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (error != std::errc() || end != value.data() + value.size() || !std::isfinite(number) || number < low ||
        number > high) {
      return fmt::format("{} is not a number from {} to {}", value, low, high);
    }
    return {};
  };
  return CLI::Validator(check, fmt::format("FLOAT in [{} - {}]", low, high));
}

CLI::Validator finite_above_zero(double high) {
  const auto check = [high](const std::string& value) -> std::string {
    double number = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (error != std::errc() || end != value.data() + value.size() || !std::isfinite(number) || number <= 0 ||
        number > high) {
      return fmt::format("{} is not a number above 0 and at most {:g}", value, high);
    }
    return {};
  };
  return CLI::Validator(check, "FLOAT > 0");
}

}  // namespace vkformer::cli
