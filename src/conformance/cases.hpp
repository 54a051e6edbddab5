#pragma once
#include <vector>

#include "vkformer/conformance/conformance.hpp"

// One function per op, each in <op>_cases.cpp beside its fp64 reference.
namespace vkformer::conformance {

std::vector<Case> elementwise_cases();
std::vector<Case> matmul_cases();
std::vector<Case> matmul_coopmat_cases();
std::vector<Case> softmax_cases();
std::vector<Case> layer_norm_cases();
std::vector<Case> embed_position_cases();
std::vector<Case> argmax_cases();
std::vector<Case> topk_cases();
std::vector<Case> logits_edit_cases();
std::vector<Case> attention_cases();
std::vector<Case> encoder_attention_cases();
std::vector<Case> limits_cases();

}  // namespace vkformer::conformance
