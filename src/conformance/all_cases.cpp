#include "cases.hpp"

namespace vkformer::conformance {

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (auto* group : {&elementwise_cases, &matmul_cases, &matmul_coopmat_cases, &softmax_cases, &layer_norm_cases,
                       &embed_position_cases, &argmax_cases, &topk_cases, &logits_edit_cases, &attention_cases,
                       &encoder_attention_cases, &limits_cases}) {
    auto more = group();
    cases.insert(cases.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  return cases;
}

}  // namespace vkformer::conformance
