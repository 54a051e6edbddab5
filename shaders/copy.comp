#version 450
#extension GL_EXT_samplerless_texture_functions : require
// The device's memory-bandwidth ceiling, for `vkformer bench ops` and the profile's "% of peak":
// out[i] = in[i] over vec4 elements, each invocation striding through the buffer (p.stride = all
// invocations), so any size runs on a fixed grid. Reads go through a vec4 texel view, as the other kernels'
// do (CPU drivers gather texel fetches as vectors but loop over lanes for storage-buffer loads).
layout(local_size_x_id = 0) in;
layout(binding = 0) uniform textureBuffer source;
layout(std430, binding = 1) writeonly buffer Out { vec4 destination[]; };
layout(push_constant) uniform Push {
  uint count, stride, source_offset, destination_offset;  // in vec4
} p;

void main() {
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += p.stride) destination[p.destination_offset + i] = texelFetch(source, int(p.source_offset + i));
}
