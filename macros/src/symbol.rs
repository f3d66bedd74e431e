//! Names the DSL knows, the spellings other frameworks use for them, and
//! "did you mean" suggestions.

/// Every layer kind, as spelled in the DSL (the registry in
/// `layers/mod.rs` is the one list).
fn layer_kinds() -> Vec<&'static str> {
    crate::layers::KINDS.iter().map(|k| k.name).collect()
}

/// Spellings from Keras and PyTorch that mean one of our layers.
const FOREIGN_KINDS: &[(&str, &str)] = &[
    ("Conv2D", "Conv2d"),
    ("Convolution2D", "Conv2d"),
    ("LSTM", "Lstm"),
    ("GRU", "Gru"),
    ("SimpleRNN", "SimpleRnn"),
    ("RNN", "SimpleRnn"),
    ("MaxPooling2D", "MaxPool2d"),
    ("MaxPool2D", "MaxPool2d"),
    ("AveragePooling2D", "AvgPool2d"),
    ("AvgPool2D", "AvgPool2d"),
    ("Linear", "Dense"),
    ("ReLU", "Relu"),
    ("Activation", "Relu"),
    ("BatchNormalization", "BatchNorm"),
    ("BatchNorm1d", "BatchNorm"),
    ("BatchNorm2d", "BatchNorm"),
    ("DepthwiseConv2D", "DepthwiseConv2d"),
    ("GlobalAveragePooling2D", "GlobalAvgPool"),
    ("GlobalMaxPooling2D", "GlobalMaxPool"),
    ("GlobalAveragePooling1D", "GlobalAvgPool"),
    ("GlobalMaxPooling1D", "GlobalMaxPool"),
    ("GlobalAvgPool2d", "GlobalAvgPool"),
    ("GlobalMaxPool2d", "GlobalMaxPool"),
    ("ReLU6", "Relu6"),
    ("LeakyReLU", "LeakyRelu"),
    ("ELU", "Elu"),
    ("GELU", "Gelu"),
    ("SiLU", "Silu"),
    ("Swish", "Silu"),
    ("Hardsigmoid", "HardSigmoid"),
    ("Hardswish", "HardSwish"),
    ("HardSiLU", "HardSwish"),
    ("HardSilu", "HardSwish"),
    ("relu6", "Relu6"),
    ("leaky_relu", "LeakyRelu"),
    ("elu", "Elu"),
    ("gelu", "Gelu"),
    ("silu", "Silu"),
    ("swish", "Silu"),
    ("hard_sigmoid", "HardSigmoid"),
    ("hard_swish", "HardSwish"),
    ("hard_silu", "HardSwish"),
    ("Conv1D", "Conv1d"),
    ("Convolution1D", "Conv1d"),
    ("MaxPooling1D", "MaxPool1d"),
    ("MaxPool1D", "MaxPool1d"),
    ("AveragePooling1D", "AvgPool1d"),
    ("AvgPool1D", "AvgPool1d"),
];

/// Layers of other frameworks that staticnet does not have.
const UNSUPPORTED_KINDS: &[&str] = &[
    "LayerNormalization",
    "LayerNorm",
    "Embedding",
    "Bidirectional",
];

/// The activations, as spelled in the DSL.
pub const ACTIVATIONS: &[&str] = &[
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "relu6",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "hard_sigmoid",
    "hard_swish",
];

/// Option names from Keras and PyTorch, and ours.
const FOREIGN_OPTIONS: &[(&str, &str)] = &[
    ("kernel_size", "kernel"),
    ("strides", "stride"),
    ("pool_size", "size"),
    ("out_features", "units"),
    ("hidden_size", "units"),
    ("out_channels", "filters"),
    ("act", "activation"),
    ("dilation_rate", "dilation"),
    ("use_bias", "bias"),
];

/// Activation names from Keras and PyTorch that mean one of ours.
const FOREIGN_ACTIVATIONS: &[(&str, &str)] = &[
    ("None", "linear"),
    ("none", "linear"),
    ("identity", "linear"),
    ("Identity", "linear"),
    ("ReLU6", "relu6"),
    ("LeakyReLU", "leaky_relu"),
    ("leakyrelu", "leaky_relu"),
    ("leaky_ReLU", "leaky_relu"),
    ("ELU", "elu"),
    ("GELU", "gelu"),
    ("SiLU", "silu"),
    ("swish", "silu"),
    ("Swish", "silu"),
    ("Hardsigmoid", "hard_sigmoid"),
    ("hardsigmoid", "hard_sigmoid"),
    ("Hardswish", "hard_swish"),
    ("hardswish", "hard_swish"),
    ("hard_silu", "hard_swish"),
];

/// Activations of other frameworks that staticnet does not have (so that
/// `gelu` is not answered with "did you mean `relu`?").
pub const UNSUPPORTED_ACTIVATIONS: &[&str] = &[
    "selu",
    "mish",
    "softplus",
    "softsign",
    "exponential",
    "log_softmax",
];

/// Advice for an unknown layer kind `kind` of the layer named `layer`.
pub fn unknown_kind(kind: &str, layer: &str) -> String {
    if kind == "Activation" {
        return format!("`Activation` is written as the activation's own layer here: `{layer}: Relu`, `Sigmoid`, `Tanh`, `Softmax`, `Gelu`, ... (or `activation = ..` on the layer before)");
    }
    if let Some((_, ours)) = FOREIGN_KINDS.iter().find(|(theirs, _)| *theirs == kind) {
        return format!(
            "unknown layer `{kind}` in `{layer}`; staticnet spells it `{ours}`: `{layer}: {ours}(..)`"
        );
    }
    if UNSUPPORTED_KINDS.contains(&kind) {
        return format!(
            "`{kind}` (in `{layer}`) is not supported by staticnet; remove `{layer}` or use one of {}",
            one_of(&layer_kinds())
        );
    }
    match did_you_mean(kind, layer_kinds().into_iter()) {
        Some(s) => format!("unknown layer `{kind}` in `{layer}`; did you mean `{s}`?"),
        None => format!(
            "unknown layer `{kind}` in `{layer}`; the layers are {}",
            one_of(&layer_kinds())
        ),
    }
}

/// Our name for a misspelt or foreign option, if one of `known` fits.
pub fn suggest_option<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    if let Some((_, ours)) = FOREIGN_OPTIONS.iter().find(|(theirs, _)| *theirs == word) {
        if let Some(k) = known.iter().find(|k| *k == ours) {
            return Some(k);
        }
    }
    did_you_mean(word, known.iter().copied())
}

/// Our name for a misspelt or foreign activation.
pub fn suggest_activation(word: &str) -> Option<&'static str> {
    if let Some((_, ours)) = FOREIGN_ACTIVATIONS
        .iter()
        .find(|(theirs, _)| *theirs == word)
    {
        return Some(ours);
    }
    did_you_mean(word, ACTIVATIONS.iter().copied())
}

/// The closest candidate to `word`, if it is close enough to be a typo
/// (case is ignored, so `dense` finds `Dense`).
pub fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = levenshtein(&lower, &c.to_lowercase());
        let limit = (c.len().max(word.len()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// "a, b or c"
pub fn one_of(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => format!("`{one}`"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|s| format!("`{s}`")).collect();
            format!("{} or `{last}`", init.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("Dence", layer_kinds().into_iter()),
            Some("Dense")
        );
        assert_eq!(
            did_you_mean("lstm", layer_kinds().into_iter()),
            Some("Lstm")
        );
        assert_eq!(did_you_mean("Banana", layer_kinds().into_iter()), None);
        assert!(unknown_kind("Conv2D", "c").contains("`Conv2d`"));
        assert!(unknown_kind("MaxPooling2D", "p").contains("`MaxPool2d`"));
        assert!(unknown_kind("Dence", "fc1").contains("did you mean `Dense`?"));
        assert_eq!(
            suggest_option("kernel_size", &["kernel", "stride"]),
            Some("kernel")
        );
        assert_eq!(
            suggest_option("strides", &["kernel", "stride"]),
            Some("stride")
        );
        assert_eq!(
            suggest_option("activaton", &["units", "activation"]),
            Some("activation")
        );
        assert_eq!(suggest_option("kernel_size", &["units"]), None);
        assert_eq!(suggest_activation("sigmod"), Some("sigmoid"));
        assert_eq!(suggest_activation("ReLU"), Some("relu"));
        assert_eq!(suggest_activation("None"), Some("linear"));
        assert!(UNSUPPORTED_ACTIVATIONS.contains(&"selu"));
        for (theirs, ours) in FOREIGN_ACTIVATIONS {
            assert!(ACTIVATIONS.contains(ours), "{theirs} -> {ours}");
            assert!(!UNSUPPORTED_ACTIVATIONS.contains(theirs), "{theirs}");
        }
        assert_eq!(suggest_activation("swish"), Some("silu"));
        assert_eq!(suggest_activation("hard_silu"), Some("hard_swish"));
        assert_eq!(suggest_activation("Hardsigmoid"), Some("hard_sigmoid"));
        assert!(unknown_kind("LeakyReLU", "a").contains("`LeakyRelu`"));
        assert!(unknown_kind("ReLU6", "a").contains("`Relu6`"));
        assert!(unknown_kind("Hardswish", "a").contains("`HardSwish`"));
        assert!(unknown_kind("leaky_relu", "a").contains("`LeakyRelu`"));
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
