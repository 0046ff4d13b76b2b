//! What can go wrong loading a plugin, and calling one. A call's error always names the plugin,
//! so the merchant knows whose code failed; the host and other plugins carry on.

/// Why a plugin could not be loaded. Nothing of it was installed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    #[error("the component carries no manifest (pack it with `tongka-plugin pack`)")]
    NoManifest,
    #[error("manifest: {0}")]
    Manifest(String),
    #[error(
        "plugin `{plugin}` is built for tongka:plugin {found}; this box serves {supported}: rebuild it against the box's version"
    )]
    UnsupportedApi {
        plugin: String,
        found: String,
        supported: String,
    },
    #[error("plugin `{plugin}` does not fit world {world}: {why}")]
    World {
        plugin: String,
        world: &'static str,
        why: String,
    },
    #[error("plugin `{plugin}` did not compile: {why}")]
    Compile { plugin: String, why: String },
    #[error("plugin `{plugin}`: configuration {why}")]
    Config { plugin: String, why: String },
    #[error(
        "plugin `{plugin}` asks for capabilities it was not granted and cannot work without: {why}"
    )]
    Grant { plugin: String, why: String },
    #[error("the plugin cache: {0}")]
    Cache(String),
}

/// Why a call into a plugin failed. Nothing it proposed is committed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    #[error("no plugin `{0}` is loaded")]
    NotLoaded(String),
    #[error("plugin `{plugin}` used up its fuel ({fuel} units) in {hook}")]
    OutOfFuel {
        plugin: String,
        hook: &'static str,
        fuel: u64,
    },
    #[error("plugin `{plugin}` ran past its {deadline_ms} ms deadline in {hook}")]
    Deadline {
        plugin: String,
        hook: &'static str,
        deadline_ms: u64,
    },
    #[error("plugin `{plugin}` tried to use more than {bytes} bytes of memory in {hook}")]
    Memory {
        plugin: String,
        hook: &'static str,
        bytes: u64,
    },
    #[error("plugin `{plugin}` trapped in {hook}: {message}")]
    Trap {
        plugin: String,
        hook: &'static str,
        message: String,
    },
    #[error("plugin `{plugin}` used `{capability}`, which it was not granted, in {hook}")]
    CapabilityDenied {
        plugin: String,
        hook: &'static str,
        capability: &'static str,
    },
    #[error("plugin `{plugin}` answered {hook} with an effect it may not give: {why}")]
    EffectNotAllowed {
        plugin: String,
        hook: &'static str,
        why: String,
    },
    #[error("plugin `{plugin}` declined {hook}: {why}")]
    Declined {
        plugin: String,
        hook: &'static str,
        why: String,
    },
    #[error("plugin `{plugin}` answered {hook} with something it may not answer: {why}")]
    Malformed {
        plugin: String,
        hook: &'static str,
        why: String,
    },
    #[error("plugin `{plugin}` is a {world} plugin and has no {hook}")]
    WrongWorld {
        plugin: String,
        hook: &'static str,
        world: &'static str,
    },
    #[error("plugin `{plugin}` could not be started for {hook}: {why}")]
    Instantiate {
        plugin: String,
        hook: &'static str,
        why: String,
    },
}
