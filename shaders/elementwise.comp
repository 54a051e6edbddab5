#version 450
// out[i] = act(a[i] + b[i]) or act(a[i]) — residual adds and standalone activations.
#include "activation.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Out { float result[]; };
layout(push_constant) uniform Push {
  uint count;
  uint a_offset;
  uint b_offset;
  uint out_offset;
  uint use_b;
  uint activation;
} p;

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.count) return;
  float x = a[p.a_offset + i];
  if (p.use_b != 0u) x += b[p.b_offset + i];
  result[p.out_offset + i] = activate(x, p.activation);
}
