// Layers as forward/backward pairs (the llm.c convention): layers.cc (im2col
// convolution, pooling, linear, softmax) and conv_s1.cc (stride-1 convolutions, with
// winograd_conv.h).
//
// Legend: N batch (images in this call), C/OC input/output channels, H,W input
// height/width, OH,OW output height/width, K = C*KH*KW (im2col rows), P = OH*OW,
// I/O linear in/out features. All tensors are row-major NCHW float32.
// Argument order: outputs, saved-for-backward, inputs, weights, sizes.
// Backward passes ACCUMULATE (+=) weight gradients and WRITE (=) input gradients.
#pragma once
#include <cstddef>
#include <cstdint>

namespace wt {

struct ConvShape {
  int C, H, W, OC, KH, KW, stride, pad;  // stride and pad: along H (and W unless set below)
  int stride_w = 0, pad_w = 0;           // along W when they differ (0: as along H)
  int SW() const { return stride_w > 0 ? stride_w : stride; }
  int PW() const { return stride_w > 0 ? pad_w : pad; }
  bool square() const { return SW() == stride && PW() == pad; }
  int OH() const { return (H + 2 * pad - KH) / stride + 1; }
  int OW() const { return (W + 2 * PW() - KW) / SW() + 1; }
  int K() const { return C * KH * KW; }
  int P() const { return OH() * OW(); }
  size_t weight_size() const { return (size_t)OC * K(); }
};

// col[K, P] = the receptive fields of one image inp[C, H, W] (zero padding).
void im2col(float* col, const float* inp, const ConvShape& s);
// dinp[C, H, W] = sum of dcol[K, P] scattered back (dinp is overwritten).
void col2im(float* dinp, const float* dcol, const ConvShape& s);

// out[N, OC, OH, OW] = conv(inp[N, C, H, W], w[OC, C, KH, KW]) + b[OC].
// col: scratch of s.K() * s.P() floats.
void conv2d_forward(float* out, float* col, const float* inp, const float* w, const float* b,
                    int N, const ConvShape& s);
// Differentiates conv2d_forward. dw[OC,K] += dout * col^T; db[OC] += sum_P dout;
// dinp = col2im(w^T * dout) unless dinp is null (the first layer needs none).
// col, dcol: scratch of s.K() * s.P() floats each.
void conv2d_backward(float* dinp, float* dw, float* db, float* col, float* dcol,
                     const float* dout, const float* inp, const float* w, int N,
                     const ConvShape& s);

// Stride-1 convolution without im2col ("shifted GEMM"). With the input plane padded
// to Hp x Wp (Hp = H + 2 pad, Wp see conv_s1_row, plus one zero slack row), output pixel
// (oh, ow) at flat index p = oh * Wp + ow reads input flat index p + kh * Wp + kw for
// tap (kh, kw): row k of im2col is the padded input shifted by a constant, so the
// GEMM takes row pointers into it and nothing is copied. Output rows are therefore
// Wp floats apart: out is [N, OC, OH, Wp] whose columns OW..Wp-1 are junk.
// pad: N * conv_s1_pad_size(s) floats whose borders must stay zero (zero it once);
// the forward fills the interiors and the backward reads them again.
size_t conv_s1_pad_size(const ConvShape& s);
// Row length Wp. Rows share their padding: the pad columns that open row h+1 also
// close row h, so Wp = W + pad (15 for conv2: 1 junk column in 15, not 2 in 16).
// That holds whenever an output row still fits (OW <= W + pad, i.e. KW > pad).
// Winograd F(4x4) with clipped tiles reads wider and lower (winograd_conv.h, wino_for):
// its planes have rows of 4 TW + 2 zero-ended floats and 4 TH + 2 rows.
int conv_s1_row(const ConvShape& s);
// Floats per padded plane: conv_s1_row(s) times the rows (Hp, or F(4x4)'s, plus the
// slack row).
size_t conv_s1_plane(const ConvShape& s);
// 3x3 kernels with pad 1 and an even output at least 8 wide take Winograd
// F(2x2, 3x3) instead (forward and input gradient; kernels.h): 2.25x fewer products.
bool conv_winograd_applies(const ConvShape& s);
// scratch: conv_s1_forward_scratch(s) floats (it holds the GEMM's row-pointer table
// too, so any kernel size works without fixed-size arrays).
size_t conv_s1_forward_scratch(const ConvShape& s);
// Winograd's transformed weights, and for a backward from the pooled gradient
// (`pooled`, below) the weights channels last, depend on the weights alone: made once
// per batch by conv_s1_prepare (conv_s1_prepared_floats(s, pooled) floats; 0 where
// neither applies), then passed as `prepared` to every call (null: each call makes
// them itself, in its scratch). `pooled` says whether the backward gets a PooledGrad.
size_t conv_s1_prepared_floats(const ConvShape& s, bool pooled = false);
void conv_s1_prepare(float* prepared, const float* w, const ConvShape& s, bool pooled = false);
// `dense` (only where conv_winograd_applies): out is [N, OC, OH, OW], no junk columns.
void conv2d_s1_forward(float* out, float* pad, float* scratch, const float* inp, const float* w,
                       const float* b, int N, const ConvShape& s, const float* prepared = nullptr,
                       bool dense = false);
// conv2d_s1_forward, then ReLU and a 2x2/2 max-pool (relu_maxpool2x2_forward_f32),
// in one pass where conv_relu_pool_fused (the Winograd shapes, 3x3 and 5x5 (F(2x2, 5x5),
// winograd_conv.h): an output tile holds whole pooling windows), without writing the
// conv's output. pooled, idx: [N, OC, OH/2, OW/2].
bool conv_relu_pool_fused(const ConvShape& s);
void conv2d_s1_relu_pool_forward(float* pooled, int32_t* idx, float* pad, float* scratch,
                                 const float* inp, const float* w, const float* b, int N,
                                 const ConvShape& s, const float* prepared = nullptr);
// Differentiates conv2d_s1_forward, whose padded inputs are still in `pad`. dout is
// [N, OC, OH, Wp] with ZERO junk columns. dw += ..., db += ... (unless null: no
// `pooled` then), dinp [N, C, H, W] written unless null. scratch: conv_s1_backward_scratch(s) floats.
size_t conv_s1_backward_scratch(const ConvShape& s);
// `pooled` (optional): when the conv's output went through relu_maxpool2x2, the pooled
// gradient g [N, OC, OH/2, OW/2] and the windows' indices. Where
// conv_pooled_backward_fits (stride 1, even output), all three gradients then come
// from the windows' maxima only (conv{3x3,}_{w,d}grad_pooled_f32: 3/4 of dout is zero)
// and dout is not read (may be null): the pool's backward is folded in. `dense`
// (only where conv_winograd_applies): dout is [N, OC, OH, OW], no junk columns.
struct PooledGrad {
  const float* g;
  const int32_t* idx;
};
bool conv_pooled_backward_fits(const ConvShape& s);  // where `pooled` is used
void conv2d_s1_backward(float* dinp, float* dw, float* db, const float* pad, float* scratch,
                        const float* dout, const float* w, int N, const ConvShape& s,
                        const PooledGrad* pooled = nullptr, const float* prepared = nullptr,
                        bool dense = false);

// out[N, C, OH, OW] = max over k x k windows with stride `stride` (no padding),
// OH = (H - k) / stride + 1. argmax[N, C, OH, OW] = flat index into the input
// plane of the first maximum in scan order (PyTorch's tie rule: first wins,
// a NaN wins).
void maxpool2d_forward(float* out, int32_t* argmax, const float* inp, int N, int C, int H,
                       int W, int k, int stride);
// dinp[N, C, H, W] = dout routed to each window's argmax (dinp overwritten).
void maxpool2d_backward(float* dinp, const float* dout, const int32_t* argmax, int N, int C,
                        int H, int W, int k, int stride);

// out[N, O] = inp[N, I] * w[O, I]^T + b[O]   (PyTorch nn.Linear)
void linear_forward(float* out, const float* inp, const float* w, const float* b, int N, int I,
                    int O);
// dw[O, I] += dout^T * inp; db[O] += sum_N dout; dinp[N, I] = dout * w (if non-null).
void linear_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                     const float* w, int N, int I, int O);

// Softmax cross-entropy (PyTorch CrossEntropyLoss). probs[N, V] = softmax(logits);
// returns the SUM over the N samples of -log softmax(logits)[label] (double), so
// that chunks of a batch can be summed in a fixed order.
double softmax_xent_forward(float* probs, const float* logits, const uint8_t* labels, int N,
                            int V);
// dlogits[N, V] = (probs - onehot(label)) * scale, with scale = 1 / batch size
// for the mean over the batch.
void softmax_xent_backward(float* dlogits, const float* probs, const uint8_t* labels, int N,
                           int V, float scale);

}  // namespace wt
