//! The host side of `tongka:plugin`, generated from `plugin-sdk/wit`: one module per world. The
//! interfaces the worlds share (types, log, config, kv) are generated once, in `scheme`, and the
//! other worlds reuse them, so one `CallState` serves every world.

pub mod scheme {
    wasmtime::component::bindgen!({
        path: "../../plugin-sdk/wit",
        world: "loyalty-scheme",
        imports: { default: trappable },
        additional_derives: [PartialEq, Eq, serde::Serialize, serde::Deserialize],
    });
}

pub mod notifier {
    wasmtime::component::bindgen!({
        path: "../../plugin-sdk/wit",
        world: "notifier",
        imports: { default: trappable },
        additional_derives: [PartialEq, Eq, serde::Serialize, serde::Deserialize],
        with: {
            "tongka:plugin/log": super::scheme::tongka::plugin::log,
            "tongka:plugin/config": super::scheme::tongka::plugin::config,
            "tongka:plugin/kv": super::scheme::tongka::plugin::kv,
        },
    });
}

pub mod settlement {
    wasmtime::component::bindgen!({
        path: "../../plugin-sdk/wit",
        world: "settlement",
        imports: { default: trappable },
        additional_derives: [PartialEq, Eq, serde::Serialize, serde::Deserialize],
        with: {
            "tongka:plugin/types": super::scheme::tongka::plugin::types,
            "tongka:plugin/log": super::scheme::tongka::plugin::log,
            "tongka:plugin/config": super::scheme::tongka::plugin::config,
        },
    });
}

pub mod driver {
    wasmtime::component::bindgen!({
        path: "../../plugin-sdk/wit",
        world: "device-driver",
        imports: { default: trappable },
        additional_derives: [PartialEq, Eq, serde::Serialize, serde::Deserialize],
        with: {
            "tongka:plugin/log": super::scheme::tongka::plugin::log,
            "tongka:plugin/config": super::scheme::tongka::plugin::config,
        },
    });
}
