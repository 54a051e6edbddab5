#pragma once
#include <functional>
#include <string>
#include <vector>

#include "vkformer/context.hpp"

namespace vkformer::conformance {

// Error statistics of a device result against an fp64 CPU reference.
struct Comparison {
  double max_abs = 0;
  double max_rel = 0;   // |d - r| / max(|r|, 1): relative for large values, absolute near zero
  double nmse = 0;      // sum (d - r)^2 / max(sum r^2, n)
  size_t non_finite = 0;
  size_t sentinel_damage = 0;  // guard elements around the output that the shader overwrote
};

// Thresholds for one kind of op. They are written next to each op's cases with the reason.
struct Tolerance {
  double max_rel;
  double nmse;
};

struct Result {
  std::string op;
  std::string shape;
  Comparison comparison;
  bool passed = false;
  // The case does not apply here (a kernel this device or tuning does not run): neither passed nor
  // failed, and `note` says why.
  bool skipped = false;
  double milliseconds = 0;  // device time of the dispatch(es), when timestamps exist
  std::string note;
};

struct Case {
  std::string op;
  std::string shape;
  std::function<Result(Context&)> run;
};

// Every case of every op, in a fixed order.
std::vector<Case> all_cases();

}  // namespace vkformer::conformance
