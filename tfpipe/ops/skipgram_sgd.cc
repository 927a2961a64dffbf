// SkipgramSgd: word2vec.c's skip-gram training loop (Mikolov et al. 2013) as one TensorFlow op.
//
// One call trains a batch of sentences in place on the two tables (resource variables):
// frequent-word subsampling, the random reduced window, and per pair plain SGD on
// -log s(v_c . u_w) - sum_k log s(-v_c . u_k) (negative sampling, k drawn from the noise
// distribution) or on the Huffman path of w (hierarchical softmax), the vectors updated
// after every pair as word2vec.c does.  Sentences are split among `threads` threads that
// update the tables without locks (Hogwild, as word2vec.c and gensim); threads = 1 is
// deterministic.  The random numbers are word2vec.c's linear congruential generator
// (r = r * 25214903917 + 11), one stream per thread (started at splitmix64(seed + thread));
// tfpipe/ops/skipgram_reference.py
// is the same loop in NumPy, which the tests compare against.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"
#include "tensorflow/core/framework/shape_inference.h"

using namespace tensorflow;

REGISTER_OP("SkipgramSgd")
    .Input("input_vectors: resource")
    .Input("output_vectors: resource")
    .Input("word_ids: int64")    // [B, L] model word ids, 0-padded
    .Input("keep_prob: float64") // [V] by word id; 0 = never trained
    .Input("noise_prob: float64") // [V] negative sampling: Walker alias table of the noise
    .Input("noise_alias: int64")  // [V] distribution (tfpipe.ops.skipgram.alias_table)
    .Input("points: int64")      // [V, D] hierarchical softmax: output rows of each word's path
    .Input("labels: float32")    // [V, D] its branch labels (1 - code)
    .Input("lengths: int32")     // [V] path lengths (0 for negative sampling)
    .Input("alpha: float32")     // scalar learning rate
    .Input("seed: int64")        // scalar
    .Attr("window: int >= 1")
    .Attr("negatives: int >= 0") // 0 = hierarchical softmax
    .Attr("threads: int >= 1")
    .Output("words: int64")      // words read (trained vocabulary, before subsampling)
    .Output("pairs: int64")      // (context, word) pairs trained
    .Output("loss: float64")     // summed pair loss, each term before its update
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      for (int i = 0; i < 3; ++i) c->set_output(i, c->Scalar());
      return OkStatus();
    });

namespace {

inline uint64_t Next(uint64_t* r) {
  *r = *r * 25214903917ULL + 11ULL;
  return *r;
}
// A thread's starting state: splitmix64 of seed + thread (nearby seeds give unrelated streams).
inline uint64_t StreamSeed(uint64_t seed, uint64_t thread) {
  uint64_t z = seed + thread + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
// Uniform in [0, 1) from the generator's upper 32 bits.
inline double Uniform(uint64_t* r) { return static_cast<double>(Next(r) >> 32) * (1.0 / 4294967296.0); }

// word2vec.c's tables: the logistic function s(x) and log s(x) at EXP_TABLE_SIZE points of
// [-MAX_EXP, MAX_EXP); a score outside takes g = (label - 0 or 1) * alpha as word2vec.c.
constexpr int kExpTableSize = 1000;
constexpr float kMaxExp = 6.0f;

struct ExpTable {
  float sigmoid[kExpTableSize];
  float log_sigmoid[kExpTableSize];  // log s(x); log s(-x) = log(1 - s(x)) = log_sigmoid of -x
  ExpTable() {
    for (int i = 0; i < kExpTableSize; ++i) {
      const double x = (2.0 * i / kExpTableSize - 1.0) * kMaxExp;
      sigmoid[i] = static_cast<float>(1.0 / (1.0 + std::exp(-x)));
      log_sigmoid[i] = static_cast<float>(-std::log1p(std::exp(-x)));
    }
  }
};
const ExpTable kTable;

inline int Bucket(float s) { return static_cast<int>((s + kMaxExp) * (kExpTableSize / kMaxExp / 2)); }

struct Tables {
  float* in;
  float* out;
  int64_t dim;
  int64_t in_rows, out_rows;
};

struct Result {
  int64_t words = 0, pairs = 0;
  double loss = 0.0;
};

// One logistic term of word2vec.c: score s = v . u_row, g = (label - s(score)) * alpha;
// e += g u_row; u_row += g v.  Returns the term's loss -log s(+-score) (clipped as g is).
inline double Term(const Tables& t, const float* v, int64_t row, float label, float alpha, float* e) {
  float* u = t.out + row * t.dim;
  float s = 0.f;
  for (int64_t d = 0; d < t.dim; ++d) s += v[d] * u[d];
  float g, loss;
  if (std::isnan(s)) {  // a diverged run: no update, the loss says so (the trainer stops it)
    return std::numeric_limits<double>::quiet_NaN();
  } else if (s >= kMaxExp) {
    g = (label - 1.f) * alpha;
    loss = label > 0.5f ? 0.f : s;  // -log s(-s) ~ s
  } else if (s <= -kMaxExp) {
    g = label * alpha;
    loss = label > 0.5f ? -s : 0.f;
  } else {
    const int b = std::min(std::max(Bucket(s), 0), kExpTableSize - 1);
    g = (label - kTable.sigmoid[b]) * alpha;
    loss = label > 0.5f ? -kTable.log_sigmoid[b] : -kTable.log_sigmoid[kExpTableSize - 1 - b];
  }
  if (g != 0.f) {
    for (int64_t d = 0; d < t.dim; ++d) {
      e[d] += g * u[d];
      u[d] += g * v[d];
    }
  }
  return loss;
}

// Sentences are handed out in chunks from a shared counter, so a thread that the OS delays does
// not hold the others at the end of the batch.
constexpr int64_t kChunk = 4;

void TrainSentences(const Tables& t, const int64_t* ids, int64_t length, int64_t batch, std::atomic<int64_t>* next,
                    const double* keep, int64_t vocab, const double* noise_prob, const int64_t* noise_alias, const int64_t* points,
                    const float* labels, const int32_t* lengths, int64_t depth, int window,
                    int negatives, float alpha, uint64_t seed, Result* out) {
  Result local;  // counted here, written once: the threads' results share a cache line
  Result* res = &local;
  uint64_t r = seed;
  std::vector<int64_t> sentence, negs(std::max(negatives, 1));
  std::vector<float> e(t.dim);
  for (int64_t first = next->fetch_add(kChunk); first < batch; first = next->fetch_add(kChunk))
  for (int64_t b = first; b < std::min(first + kChunk, batch); ++b) {
    sentence.clear();
    const int64_t* row = ids + b * length;
    for (int64_t i = 0; i < length; ++i) {
      const int64_t w = row[i];
      if (w < 0 || w >= vocab || keep[w] <= 0.0) continue;
      ++res->words;
      if (keep[w] < 1.0 && Uniform(&r) >= keep[w]) continue;  // subsampled
      sentence.push_back(w);
    }
    const int64_t n = static_cast<int64_t>(sentence.size());
    for (int64_t i = 0; i < n; ++i) {
      const int64_t word = sentence[i];
      const int64_t reach = 1 + static_cast<int64_t>(Next(&r) >> 33) % window;  // 1..window
      const int64_t lo = std::max<int64_t>(0, i - reach), hi = std::min<int64_t>(n - 1, i + reach);
      for (int64_t j = lo; j <= hi; ++j) {
        if (j == i) continue;
        const float* v = t.in + sentence[j] * t.dim;  // the context word's input vector
        std::fill(e.begin(), e.end(), 0.f);
        if (negatives > 0) {
          // The draws first (the same stream as drawing each before its term), their rows
          // fetched while the positive term runs.
          int drawn = 0;
          for (int k = 0; k < negatives; ++k) {
            const double u = Uniform(&r) * vocab;  // Walker's alias method: bucket, then coin
            int64_t neg = static_cast<int64_t>(u);
            if (u - neg >= noise_prob[neg]) neg = noise_alias[neg];
            if (neg == word || neg >= t.out_rows) continue;
            negs[drawn++] = neg;
            __builtin_prefetch(t.out + neg * t.dim);
          }
          res->loss += Term(t, v, word, 1.f, alpha, e.data());
          for (int k = 0; k < drawn; ++k) res->loss += Term(t, v, negs[k], 0.f, alpha, e.data());
        } else {
          const int64_t* p = points + word * depth;
          const float* l = labels + word * depth;
          for (int32_t k = 0; k < lengths[word]; ++k) res->loss += Term(t, v, p[k], l[k], alpha, e.data());
        }
        float* vin = t.in + sentence[j] * t.dim;
        for (int64_t d = 0; d < t.dim; ++d) vin[d] += e[d];
        ++res->pairs;
      }
    }
  }
  *out = local;
}

class SkipgramSgdOp : public OpKernel {
 public:
  explicit SkipgramSgdOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("window", &window_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("negatives", &negatives_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("threads", &threads_));
  }

  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<Var> in_var, out_var;
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 0), &in_var));
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 1), &out_var));
    const Tensor& ids = ctx->input(2);
    const Tensor& keep = ctx->input(3);
    const Tensor& noise_prob = ctx->input(4);
    const Tensor& noise_alias = ctx->input(5);
    const Tensor& points = ctx->input(6);
    const Tensor& labels = ctx->input(7);
    const Tensor& lengths = ctx->input(8);
    OP_REQUIRES(ctx, ids.dims() == 2, errors::InvalidArgument("word_ids must be [batch, length]"));
    const int64_t vocab = keep.NumElements();
    OP_REQUIRES(ctx, negatives_ == 0 || (noise_prob.NumElements() == vocab && noise_alias.NumElements() == vocab),
                errors::InvalidArgument("noise_prob and noise_alias must have one entry per word id"));
    OP_REQUIRES(ctx, negatives_ > 0 || (points.dims() == 2 && points.dim_size(0) == vocab &&
                                        labels.shape() == points.shape() && lengths.NumElements() == vocab),
                errors::InvalidArgument("points/labels must be [vocab, depth] and lengths [vocab]"));
    const float alpha = ctx->input(9).scalar<float>()();
    const uint64_t seed = static_cast<uint64_t>(ctx->input(10).scalar<int64_t>()());

    mutex* first = in_var->mu() < out_var->mu() ? in_var->mu() : out_var->mu();
    mutex* second = first == in_var->mu() ? out_var->mu() : in_var->mu();
    mutex_lock l1(*first);
    mutex_lock l2(*second);
    OP_REQUIRES_OK(ctx, Writable(ctx, in_var.get()));
    OP_REQUIRES_OK(ctx, Writable(ctx, out_var.get()));
    Tensor* in = in_var->tensor();
    Tensor* out = out_var->tensor();
    OP_REQUIRES(ctx, in->dtype() == DT_FLOAT && out->dtype() == DT_FLOAT && in->dims() == 2 &&
                         out->dims() == 2 && in->dim_size(1) == out->dim_size(1) &&
                         in->dim_size(0) >= vocab,
                errors::InvalidArgument("the tables must be float32 [rows, dim] with one input row per word id"));
    Tables t{in->flat<float>().data(), out->flat<float>().data(), in->dim_size(1), in->dim_size(0),
             out->dim_size(0)};
    const int64_t batch = ids.dim_size(0), length = ids.dim_size(1);
    const int threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads_, batch)));
    std::vector<Result> results(threads);
    const int64_t depth = negatives_ > 0 ? 0 : points.dim_size(1);
    const int64_t* id_data = ids.flat<int64_t>().data();
    const double* keep_data = keep.flat<double>().data();
    std::atomic<int64_t> next{0};
    auto work = [&](int k) {
      TrainSentences(t, id_data, length, batch, &next, keep_data, vocab,
                     negatives_ > 0 ? noise_prob.flat<double>().data() : nullptr,
                     negatives_ > 0 ? noise_alias.flat<int64_t>().data() : nullptr,
                     negatives_ > 0 ? nullptr : points.flat<int64_t>().data(),
                     negatives_ > 0 ? nullptr : labels.flat<float>().data(),
                     negatives_ > 0 ? nullptr : lengths.flat<int32_t>().data(), depth, window_, negatives_,
                     alpha, StreamSeed(seed, static_cast<uint64_t>(k)), &results[k]);
    };
    std::vector<std::thread> pool;
    for (int k = 1; k < threads; ++k) pool.emplace_back(work, k);
    work(0);
    for (auto& th : pool) th.join();
    Result total;
    for (const auto& r : results) {
      total.words += r.words;
      total.pairs += r.pairs;
      total.loss += r.loss;
    }
    Tensor* o = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({}), &o));
    o->scalar<int64_t>()() = total.words;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({}), &o));
    o->scalar<int64_t>()() = total.pairs;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({}), &o));
    o->scalar<double>()() = total.loss;
  }

 private:
  // Updates in place only a buffer nobody else holds (a live read of the variable keeps its value).
  static Status Writable(OpKernelContext* ctx, Var* var) {
    Tensor* t = var->tensor();
    if (t->RefCountIsOne()) return OkStatus();
    Tensor copy;
    TF_RETURN_IF_ERROR(ctx->allocate_temp(t->dtype(), t->shape(), &copy));
    std::memcpy(copy.data(), t->data(), t->TotalBytes());
    *t = copy;
    return OkStatus();
  }

  int window_, negatives_, threads_;
};

REGISTER_KERNEL_BUILDER(Name("SkipgramSgd").Device(DEVICE_CPU), SkipgramSgdOp);

}  // namespace
