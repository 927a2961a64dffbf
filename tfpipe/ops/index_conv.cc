// IndexConv1d / IndexConv1dGrad: a 'valid', stride-1 1-D convolution over one-hot frames,
// computed from the frames' indices (tfpipe/layers/index_conv.py's equation):
//
//   out[b, t, :] = bias + sum_{j < k} W[j, ids[b, t + j] - 1, :]
//
// with W [k, V, F] (the kernel Conv1D would hold for V input channels); an id outside 1..V is the
// all-zero one-hot row and adds nothing.  The gradient of a loss with upstream gradient
// g [B, S, F] (S = L - k + 1) is
//
//   dW[j, v, :] = sum_{b, t : ids[b, t + j] = v + 1} g[b, t, :],   dbias = sum_{b, t} g[b, t, :]
//
// (the ids, integers, have none).  The forward pass reads k rows of W per output frame and the
// backward pass adds each upstream row into k rows of dW: k * F additions per frame, against the
// one-hot convolution's k * V * F multiply-adds, with W and dW (k * V * F floats) in cache.
//
// W, bias, dW and dbias are float32 (the variables of a mixed-precision layer); the output and the
// upstream gradient are T (float32 or bfloat16, the layer's compute dtype).  Sums are taken in
// float32 and a bfloat16 output is rounded once, to nearest even.  Frames are split among the
// TensorFlow CPU worker threads; the backward pass gives each of a fixed number of contiguous
// frame ranges its own dW and adds them in order, so its result does not depend on scheduling.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

using namespace tensorflow;

REGISTER_OP("IndexConv1d")
    .Input("ids: int32")       // [B, L] one-hot indices, 1..V (anything else: the zero row)
    .Input("kernel: float32")  // [k, V, F]
    .Input("bias: float32")    // [F]
    .Attr("T: {float, bfloat16}")
    .Output("output: T")       // [B, L - k + 1, F]
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle ids, kernel;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &ids));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 3, &kernel));
      shape_inference::DimensionHandle steps;
      TF_RETURN_IF_ERROR(c->Subtract(c->Dim(ids, 1), c->Dim(kernel, 0), &steps));
      TF_RETURN_IF_ERROR(c->Add(steps, 1, &steps));
      c->set_output(0, c->MakeShape({c->Dim(ids, 0), steps, c->Dim(kernel, 2)}));
      return OkStatus();
    });

REGISTER_OP("IndexConv1dGrad")
    .Input("ids: int32")       // [B, L]
    .Input("grad: T")          // [B, L - k + 1, F] upstream gradient
    .Attr("T: {float, bfloat16}")
    .Attr("kernel_size: int >= 1")
    .Attr("vocab_size: int >= 1")
    .Output("kernel_grad: float32")  // [k, V, F]
    .Output("bias_grad: float32")    // [F]
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      int64_t k, v;
      TF_RETURN_IF_ERROR(c->GetAttr("kernel_size", &k));
      TF_RETURN_IF_ERROR(c->GetAttr("vocab_size", &v));
      shape_inference::ShapeHandle grad;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 3, &grad));
      c->set_output(0, c->MakeShape({k, v, c->Dim(grad, 2)}));
      c->set_output(1, c->MakeShape({c->Dim(grad, 2)}));
      return OkStatus();
    });

namespace {

// Row conversions between float32 and T (written as integer loops the compiler vectorizes).
inline void ToFloatRow(const float* in, float* out, int64_t n) { std::memcpy(out, in, n * sizeof(float)); }
inline void ToFloatRow(const bfloat16* in, float* out, int64_t n, uint32_t* scratch) {
  const uint16_t* half = reinterpret_cast<const uint16_t*>(in);
  for (int64_t f = 0; f < n; ++f) scratch[f] = static_cast<uint32_t>(half[f]) << 16;
  std::memcpy(out, scratch, n * sizeof(float));
}
inline void ToFloatRow(const float* in, float* out, int64_t n, uint32_t*) { ToFloatRow(in, out, n); }

inline void StoreRow(const float* in, float* out, int64_t n, uint32_t*) { std::memcpy(out, in, n * sizeof(float)); }
inline void StoreRow(const float* in, bfloat16* out, int64_t n, uint32_t* scratch) {
  // Round to nearest even; a NaN stays a (quiet) NaN.
  std::memcpy(scratch, in, n * sizeof(float));
  uint16_t* half = reinterpret_cast<uint16_t*>(out);
  for (int64_t f = 0; f < n; ++f) {
    const uint32_t bits = scratch[f];
    const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    const uint32_t nan = (bits >> 16) | 0x0040u;
    half[f] = static_cast<uint16_t>((bits & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
  }
}

// Adds row[0..n) into acc (vectorized by the compiler).
inline void AddRow(const float* __restrict row, float* __restrict acc, int64_t n) {
  for (int64_t f = 0; f < n; ++f) acc[f] += row[f];
}

thread::ThreadPool* Workers(OpKernelContext* ctx) {
  return ctx->device()->tensorflow_cpu_worker_threads()->workers;
}

}  // namespace

template <typename T>
class IndexConv1dOp : public OpKernel {
 public:
  explicit IndexConv1dOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& ids_t = ctx->input(0);
    const Tensor& kernel_t = ctx->input(1);
    const Tensor& bias_t = ctx->input(2);
    OP_REQUIRES(ctx, ids_t.dims() == 2, errors::InvalidArgument("ids must be [batch, length]"));
    OP_REQUIRES(ctx, kernel_t.dims() == 3, errors::InvalidArgument("kernel must be [k, vocab, filters]"));
    const int64_t B = ids_t.dim_size(0), L = ids_t.dim_size(1);
    const int64_t K = kernel_t.dim_size(0), V = kernel_t.dim_size(1), F = kernel_t.dim_size(2);
    OP_REQUIRES(ctx, bias_t.dims() == 1 && bias_t.dim_size(0) == F,
                errors::InvalidArgument("bias must be [filters] = [", F, "]"));
    OP_REQUIRES(ctx, L >= K, errors::InvalidArgument("inputs of ", L, " steps are shorter than the kernel (", K, ")"));
    const int64_t S = L - K + 1;
    Tensor* out_t = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({B, S, F}), &out_t));
    const int32_t* ids = ids_t.flat<int32_t>().data();
    const float* W = kernel_t.flat<float>().data();
    const float* bias = bias_t.flat<float>().data();
    T* out = out_t->flat<T>().data();

    auto work = [&](int64_t begin, int64_t end) {
      std::vector<float> acc(F);
      std::vector<uint32_t> scratch(F);
      for (int64_t frame = begin; frame < end; ++frame) {
        const int64_t b = frame / S, t = frame % S;
        const int32_t* window = ids + b * L + t;
        std::memcpy(acc.data(), bias, F * sizeof(float));
        for (int64_t j = 0; j < K; ++j) {
          const int64_t id = window[j];
          if (id >= 1 && id <= V) AddRow(W + (j * V + id - 1) * F, acc.data(), F);
        }
        StoreRow(acc.data(), out + frame * F, F, scratch.data());
      }
    };
    Workers(ctx)->ParallelFor(B * S, /*cost_per_unit=*/K * F * 2, work);
  }
};

template <typename T>
class IndexConv1dGradOp : public OpKernel {
 public:
  explicit IndexConv1dGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("kernel_size", &K_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("vocab_size", &V_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& ids_t = ctx->input(0);
    const Tensor& grad_t = ctx->input(1);
    OP_REQUIRES(ctx, ids_t.dims() == 2, errors::InvalidArgument("ids must be [batch, length]"));
    OP_REQUIRES(ctx, grad_t.dims() == 3, errors::InvalidArgument("grad must be [batch, steps, filters]"));
    const int64_t B = ids_t.dim_size(0), L = ids_t.dim_size(1), K = K_, V = V_;
    const int64_t S = L - K + 1, F = grad_t.dim_size(2);
    OP_REQUIRES(ctx, S >= 1 && grad_t.dim_size(0) == B && grad_t.dim_size(1) == S,
                errors::InvalidArgument("grad must be [", B, ", ", L - K + 1, ", filters], got ",
                                        grad_t.shape().DebugString()));
    Tensor* kgrad_t = nullptr;
    Tensor* bgrad_t = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({K, V, F}), &kgrad_t));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({F}), &bgrad_t));
    const int32_t* ids = ids_t.flat<int32_t>().data();
    const T* grad = grad_t.flat<T>().data();
    float* kgrad = kgrad_t->flat<float>().data();
    float* bgrad = bgrad_t->flat<float>().data();

    // A fixed number of contiguous frame ranges, each summed into its own table (kernel, then
    // bias), then added in range order: the same result whichever thread runs which range.
    const int64_t frames = B * S, table = K * V * F + F;
    thread::ThreadPool* pool = Workers(ctx);
    const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(pool->NumThreads(), frames));
    std::vector<std::vector<float>> partial(parts);
    auto work = [&](int64_t p_begin, int64_t p_end) {
      std::vector<float> row(F);
      std::vector<uint32_t> scratch(F);
      for (int64_t p = p_begin; p < p_end; ++p) {
        partial[p].assign(table, 0.0f);
        float* acc = partial[p].data();
        float* bacc = acc + K * V * F;
        const int64_t begin = frames * p / parts, end = frames * (p + 1) / parts;
        for (int64_t frame = begin; frame < end; ++frame) {
          const int64_t b = frame / S, t = frame % S;
          ToFloatRow(grad + frame * F, row.data(), F, scratch.data());
          AddRow(row.data(), bacc, F);
          const int32_t* window = ids + b * L + t;
          for (int64_t j = 0; j < K; ++j) {
            const int64_t id = window[j];
            if (id >= 1 && id <= V) AddRow(row.data(), acc + (j * V + id - 1) * F, F);
          }
        }
      }
    };
    // One range per unit: the cost makes the pool hand each range to its own thread.
    pool->ParallelFor(parts, /*cost_per_unit=*/(frames / parts + 1) * K * F * 4, work);
    auto reduce = [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        float s = partial[0][i];
        for (int64_t p = 1; p < parts; ++p) s += partial[p][i];
        (i < K * V * F ? kgrad[i] : bgrad[i - K * V * F]) = s;
      }
    };
    pool->ParallelFor(table, /*cost_per_unit=*/parts * 2, reduce);
  }

 private:
  int64_t K_ = 1, V_ = 1;
};

#define REGISTER(T)                                                                   \
  REGISTER_KERNEL_BUILDER(Name("IndexConv1d").Device(DEVICE_CPU).TypeConstraint<T>("T"), \
                          IndexConv1dOp<T>);                                          \
  REGISTER_KERNEL_BUILDER(Name("IndexConv1dGrad").Device(DEVICE_CPU).TypeConstraint<T>("T"), \
                          IndexConv1dGradOp<T>);
REGISTER(float)
REGISTER(bfloat16)
#undef REGISTER
