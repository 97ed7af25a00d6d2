//! The training fit rule: does a `train` or `fine_tune` pipeline's model state fit its GPUs?
//!
//! Takes: the evaluated pipelines, their model (`base`, else `produces`) and pool. Gives:
//! E0433 naming the bytes per GPU (W0420 when `method` is left at its default `full`). Per GPU of a job of N GPUs, model state sharded across
//! them (ZeRO-3 / FSDP), with P parameters, adapter parameters A = 8·r·L·h (rank-r A and B
//! matrices on the q, k, v and o projections of L layers of width h):
//! - `full`: 16·P / N bytes: bf16 weights (2) and gradients (2), fp32 master weights (4) and
//!   Adam moments (4 + 4), ZeRO (Rajbhandari et al. 2020, §3);
//! - `lora`: (2·P + 16·A) / N: a frozen bf16 base and the adapters trained as above (Hu et
//!   al. 2021);
//! - `qlora`: (0.5·P + 16·A) / N: a 4-bit NF4 base (Dettmers et al. 2023);
//!
//! plus activations of one full-context sequence with activation checkpointing, not sharded:
//! s·h·(2·L + 34) bytes, each layer's bf16 input (2·s·h) kept and one layer's activations
//! (34·s·h, Korthikanti et al. 2022, without the attention-score term FlashAttention avoids)
//! recomputed. The width is h = sqrt(P / (12·L)) (P ≈ 12·L·h²); without `layers`, the Llama
//! aspect h = 128·L gives h = (128·P / 12)^(1/3).

use super::policy::StackView;
use super::rules::{field, float, gib, int, ref_of, span, variant};
use crate::diag::{codes, Diagnostic};

/// Per-GPU bytes of a training job.
#[derive(Debug, PartialEq)]
pub struct TrainingMemory {
    /// Sharded weights, gradients, master weights and optimizer state.
    pub state: f64,
    /// One full-context sequence's activations.
    pub activations: f64,
}

impl TrainingMemory {
    pub fn total(&self) -> f64 {
        self.state + self.activations
    }
}

/// `(layers, width)` of a model of `params` parameters.
pub fn shape(params: f64, layers: Option<f64>) -> (f64, f64) {
    match layers {
        Some(l) => (l, (params / (12.0 * l)).sqrt()),
        None => {
            let h = (128.0 * params / 12.0).cbrt();
            (h / 128.0, h)
        }
    }
}

/// The fit rule's arithmetic. `method` is `full`, `lora` or `qlora`; `rank` is ignored for `full`.
pub fn training_memory(
    params: f64,
    method: &str,
    rank: f64,
    gpus: f64,
    context: f64,
    layers: Option<f64>,
) -> TrainingMemory {
    let (l, h) = shape(params, layers);
    let adapters = 8.0 * rank * l * h;
    let state = match method {
        "lora" => 2.0 * params + 16.0 * adapters,
        "qlora" => 0.5 * params + 16.0 * adapters,
        _ => 16.0 * params,
    } / gpus.max(1.0);
    TrainingMemory { state, activations: context * h * (2.0 * l + 34.0) }
}

impl StackView<'_> {
    pub fn training_rules(&mut self, cat: &super::rules::Catalog) {
        for (pid, p) in self.active_of("pipeline") {
            let kind = variant(self, field(&p, "kind")).map(|v| v.0).unwrap_or_default();
            if kind != "train" && kind != "fine_tune" {
                continue;
            }
            let Some(model_id) = ref_of(field(&p, "base")).or_else(|| ref_of(field(&p, "produces"))) else { continue };
            let (Some(pool_id), Some(gpus)) = (ref_of(field(&p, "pool")), int(&p, "gpus")) else { continue };
            let (Some(model), Some(pool)) = (self.rec(model_id), self.rec(pool_id)) else {
                continue;
            };
            let (Some(params), Some(context)) = (float(&model, "parameters"), int(&model, "context_length")) else {
                continue;
            };
            let Some((per_gpu, gpu_desc, _)) = self.memory_per_gpu(cat, &pool) else { continue };
            let (method, rank) = match variant(self, field(&p, "method")) {
                Some((m, payload)) => {
                    let r = payload.as_deref().and_then(|r| int(r, "rank")).unwrap_or(16);
                    (m, r)
                }
                None => ("full".to_string(), 16),
            };
            let layers = int(&model, "layers").map(|l| l as f64);
            let mem = training_memory(params, &method, rank as f64, gpus as f64, context as f64, layers);
            if mem.total() <= per_gpu {
                continue;
            }
            let what = match method.as_str() {
                "lora" => format!("frozen bf16 base + rank-{rank} adapters"),
                "qlora" => format!("4-bit base + rank-{rank} adapters"),
                _ => "weights, gradients, fp32 master weights and Adam moments (16 bytes/parameter)".to_string(),
            };
            let msg = format!(
                "training `{}` ({method}) needs {} per GPU: {} of {what} {} + {} of activations for one {context}-token sequence; {gpu_desc} has {}",
                self.addr(model_id),
                gib(mem.total()),
                gib(mem.state),
                if gpus == 1 { "on 1 GPU".to_string() } else { format!("sharded over {gpus} GPUs") },
                gib(mem.activations),
                gib(per_gpu)
            );
            let fits = (gpus..=gpus.saturating_mul(64)).find(|n| {
                training_memory(params, &method, rank as f64, *n as f64, context as f64, layers).total() <= per_gpu
            });
            let mut help = match fits {
                Some(n) => format!("shard over more GPUs: `gpus = {n}` fits"),
                None => "the activations alone do not fit: use a larger GPU or a shorter context".to_string(),
            };
            if method == "full" {
                help.push_str(", or train adapters: `method = lora { rank = 16 }` or `qlora { rank = 16 }`");
            }
            let at = span(&p, "gpus", self.decl_span(pid));
            let written = p.fields.get("method").filter(|f| f.name_span.is_some()).map(|f| f.span);
            // A pipeline that does not say how it trains (written before `method` existed:
            // its image decides) is warned at the default; a declared method must fit.
            let mut d = match written {
                Some(m) => {
                    Diagnostic::error(codes::TRAINING_DOES_NOT_FIT, at, msg).with_label(m, format!("method {method}"))
                }
                None => Diagnostic::warning(
                    codes::TRAINING_DEFAULT_MAY_NOT_FIT,
                    at,
                    format!("with the default `method = full`, {msg}"),
                ),
            };
            d = d.with_help(help);
            self.error(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: f64 = 1_073_741_824.0;

    #[test]
    fn llama_8b_full_on_16_gpus() {
        // P = 8.03e9, L = 32: h = sqrt(8.03e9 / 384) = 4573.0. State 16·P/16 = 8.03e9 B
        // (7.48 GiB); activations 8192·4573.0·(64 + 34) = 3.671e9 B (3.42 GiB).
        let m = training_memory(8.03e9, "full", 16.0, 16.0, 8192.0, Some(32.0));
        assert!((m.state - 8.03e9).abs() < 1.0);
        assert!((m.activations / 3.671e9 - 1.0).abs() < 1e-3, "{m:?}");
        assert!((m.total() / GIB - 10.90).abs() < 0.01, "{}", m.total() / GIB);
    }

    #[test]
    fn llama_70b_full_lora_qlora() {
        // P = 70e9, L = 80: h = sqrt(70e9 / 960) = 8539.3; A = 8·16·80·8539.3 = 87.44e6.
        // Activations at 4096 tokens: 4096·8539.3·194 = 6.785e9 B (6.32 GiB).
        let full = training_memory(70e9, "full", 16.0, 8.0, 4096.0, Some(80.0));
        // 16·70e9/8 = 140e9 B = 130.39 GiB: more than one H100 (79.65 GiB).
        assert!((full.state / GIB - 130.39).abs() < 0.01);
        assert!((full.activations / 6.785e9 - 1.0).abs() < 1e-3);
        let lora = training_memory(70e9, "lora", 16.0, 8.0, 4096.0, Some(80.0));
        // (2·70e9 + 16·87.44e6)/8 = 17.675e9 B = 16.46 GiB.
        assert!((lora.state / 17.675e9 - 1.0).abs() < 1e-3, "{lora:?}");
        let qlora = training_memory(70e9, "qlora", 16.0, 1.0, 4096.0, Some(80.0));
        // 0.5·70e9 + 16·87.44e6 = 36.399e9 B; + 6.785e9 = 43.18e9 B = 40.22 GiB.
        assert!((qlora.total() / GIB - 40.22).abs() < 0.01, "{}", qlora.total() / GIB);
    }

    #[test]
    fn seven_b_without_layers_uses_the_llama_aspect() {
        // h = (128·7e9/12)^(1/3) = 4210.9, L = 32.90; A = 8·16·32.90·4210.9 = 17.73e6.
        let (l, h) = shape(7e9, None);
        assert!((h - 4210.9).abs() < 0.1 && (l - 32.90).abs() < 0.01, "{l} {h}");
        // lora on one GPU: 2·7e9 + 16·17.74e6 = 14.284e9; activations 4096·4210.9·99.8 = 1.7213e9.
        let lora = training_memory(7e9, "lora", 16.0, 1.0, 4096.0, None);
        assert!((lora.state / 14.284e9 - 1.0).abs() < 1e-3, "{lora:?}");
        assert!((lora.activations / 1.7213e9 - 1.0).abs() < 1e-3, "{lora:?}");
        // full on one GPU: 16·7e9 = 112e9 B = 104.3 GiB.
        assert!((training_memory(7e9, "full", 16.0, 1.0, 4096.0, None).state / GIB - 104.31).abs() < 0.01);
    }
}
