#version 450
// out[row, :] = embedding[ids[row], :] * scale + positional encoding of position(row), with
// position(row) = row % seq_len + position_offset (+ offset_buffer[offset_index], a decoder step index
// read at run time). Ids at or past the vocabulary give zeros for the embedding part. One workgroup per
// row, invocations strided over the columns. The table may be split in row blocks (one dispatch each):
// a dispatch writes only the rows whose id is in [id_begin, id_end), and its table starts at row id_begin.
// The table holds f32, f16, bf16, i8 or i16 (read as packed uint words); i8 and i16 rows are divided by
// their scale (i8: one per row, i16: one per table), read through a texel view.
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 1) readonly buffer Embedding { float embedding[]; };
layout(std430, binding = 1) readonly buffer EmbeddingWords { uint embedding_words[]; };
layout(std430, binding = 2) writeonly buffer Out { float result[]; };
layout(std430, binding = 3) readonly buffer Offset { uint offset_buffer[]; };
layout(binding = 4) uniform textureBuffer scale4;  // a texel binding: every device allows only 4 storage buffers
layout(push_constant) uniform Push {
  uint rows;
  uint dim;
  uint vocab;
  uint id_begin;
  uint id_end;
  uint ids_offset;
  uint embedding_offset;
  uint out_offset;
  uint seq_len;
  uint position_offset;
  uint use_offset_buffer;
  uint offset_index;
  uint positions;       // 0: none, 1: half split (Marian: sin | cos), 2: interleaved (sin, cos, ...)
  float scale;
  float log2_freq_step;  // 2 * log2(10000) / dim: frequency i is 10000^(-2i/dim) = 2^(-i * log2_freq_step)
  uint element;          // Element's order: 0 f32, 1 f16, 2 bf16, 3 i8, 4 i16
  uint scale_offset;     // i8, i16: the block's first scale in scale4
  uint scale_per_row;    // i8: one scale per row; i16: one for the table
} p;

// Table element `index`, widened to f32 (i8 and i16 before their scale).
float table_value(uint index) {
  switch (p.element) {
    case 0u: return embedding[index];
    case 1u: return unpackHalf2x16(embedding_words[index / 2u])[index % 2u];
    case 2u: {
      const uint word = embedding_words[index / 2u];
      return uintBitsToFloat((index % 2u) == 0u ? word << 16 : word & 0xFFFF0000u);
    }
    case 3u: return float(bitfieldExtract(int(embedding_words[index / 4u]), int(8u * (index % 4u)), 8));
    default: return float(bitfieldExtract(int(embedding_words[index / 2u]), int(16u * (index % 2u)), 16));
  }
}

// 2^x to about an ulp: an exact power of two times e^(f ln 2), |f| <= 1/2, by its Taylor series. The
// builtin exp2 may be off by 3 + 2|x| ulp, which would show at large positions.
float exp2_accurate(float x) {
  const float n = round(x);
  const float y = (x - n) * 0.6931471806;
  const float e = 1.0 + y * (1.0 + y * (0.5 + y * (1.0 / 6.0 + y * (1.0 / 24.0 + y * (1.0 / 120.0 +
                  y * (1.0 / 720.0 + y * (1.0 / 5040.0)))))));
  return ldexp(e, int(n));
}

// (sin, cos) of 2π·t. The builtins are only specified to 2^-11 absolute and only on [-π, π], so reduce to
// |x| <= π/4 around a whole number of quarter turns (t - q/4 is exact) and use Taylor polynomials.
vec2 sincos_turns(float t) {
  const float q = round(4.0 * t);
  const float x = (t - 0.25 * q) * 6.283185307;
  const float x2 = x * x;
  const float s = x * (1.0 - x2 / 6.0 * (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0 * (1.0 - x2 / 72.0))));
  const float c = 1.0 - x2 / 2.0 * (1.0 - x2 / 12.0 * (1.0 - x2 / 30.0 * (1.0 - x2 / 56.0 * (1.0 - x2 / 90.0))));
  switch (int(q) & 3) {  // rotate by q quarter turns
    case 0: return vec2(s, c);
    case 1: return vec2(c, -s);
    case 2: return vec2(-s, -c);
    default: return vec2(-c, s);
  }
}

float encoding(float position, uint j) {
  uint i;  // frequency index
  bool use_sin;
  if (p.positions == 1u) {
    const uint half_dim = (p.dim + 1u) / 2u;  // odd dim: the sin half has the extra column
    use_sin = j < half_dim;
    i = use_sin ? j : j - half_dim;
  } else {
    use_sin = (j & 1u) == 0u;
    i = j / 2u;
  }
  // Turns per position: 10000^(-2i/dim) / 2π.
  const float turns = exp2_accurate(-float(i) * p.log2_freq_step - 2.651496129);
  const vec2 sc = sincos_turns(position * turns);
  return use_sin ? sc.x : sc.y;
}

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= p.rows) return;
  const uint id = ids[p.ids_offset + row];
  if (id < p.id_begin || id >= p.id_end) return;  // another block's dispatch writes this row
  uint position = row % p.seq_len + p.position_offset;
  if (p.use_offset_buffer != 0u) position += offset_buffer[p.offset_index];
  const uint out_base = p.out_offset + row * p.dim;
  float row_scale = p.scale;
  if (p.element >= 3u && id < p.vocab) {
    const uint at = p.scale_offset + (p.scale_per_row != 0u ? id - p.id_begin : 0u);
    row_scale /= texelFetch(scale4, int(at / 4u))[at % 4u];  // w = q / scale
  }
  for (uint j = gl_LocalInvocationID.x; j < p.dim; j += WG) {
    float v = id < p.vocab ? table_value(p.embedding_offset + (id - p.id_begin) * p.dim + j) * row_scale : 0.0;
    if (p.positions != 0u) v += encoding(float(position), j);
    result[out_base + j] = v;
  }
}
