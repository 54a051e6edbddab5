#pragma once
#include <string>
#include <string_view>

#include "vkformer/ops/matmul.hpp"

namespace vkformer {

// The matmul on tensor cores (shaders/matmul_coopmat.comp, VK_NV_cooperative_matrix): record_matmul
// takes it for MatmulKernel::cooperative, and automatically for more than gemv_max_m rows under a tuning
// with cooperative_matrix. A KHR module would be one more shader name here, behind the same op.
inline constexpr std::string_view kCoopmatShader = "matmul_coopmat";

// Why `shape` with B of `b_element` cannot run on matmul_coopmat in `context`, one line; empty when it
// can: the context's tuning uses cooperative matrices (so the device has them), B is one f16 matrix
// stored [N, K], no norm in the epilogue.
std::string coopmat_misfit(const Context& context, const MatmulShape& shape, Element b_element);

// record_matmul's coopmat path, for a shape it has checked (its strides filled in).
void record_matmul_coopmat(Sequence& sequence, Context& context, View a, View b, View bias, View c,
                           const MatmulShape& shape, std::string_view label);

}  // namespace vkformer
