//! Builds the browser client (web/) for release builds when its bundle is missing or older
//! than its sources, so `cargo run --release` serves the UI with no other step. Debug builds
//! read web/dist from disk at run time (the test script builds it first). Set
//! `CONCORDAT_SKIP_WEB_BUILD=1` to build the server alone (a release without the UI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn newest(dir: &Path) -> Option<SystemTime> {
    let mut best = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest(&path)
        } else {
            entry.metadata().ok()?.modified().ok()
        };
        best = best.max(t);
    }
    best
}

fn main() {
    let web: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    for p in [
        "dist",
        "src",
        "index.html",
        "package-lock.json",
        "vite.config.ts",
    ] {
        println!("cargo:rerun-if-changed={}", web.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=CONCORDAT_SKIP_WEB_BUILD");
    if std::env::var("PROFILE").as_deref() != Ok("release")
        || std::env::var_os("CONCORDAT_SKIP_WEB_BUILD").is_some()
        || !web.join("package.json").exists()
    {
        return;
    }
    let built = std::fs::metadata(web.join("dist/index.html"))
        .and_then(|m| m.modified())
        .ok();
    let sources = newest(&web.join("src")).max(
        std::fs::metadata(web.join("index.html"))
            .and_then(|m| m.modified())
            .ok(),
    );
    if built.is_some() && built >= sources {
        return;
    }
    let npm = |args: &[&str]| {
        Command::new("npm")
            .args(args)
            .current_dir(&web)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    // `npm install` rather than `npm ci`: npm 11 leaves some optional per-platform packages
    // (cbor-extract, rollup) out of the lock file and then refuses `npm ci`; the lock file
    // still pins every version.
    if !web.join("node_modules").exists() && !npm(&["install", "--no-audit", "--no-fund"]) {
        println!(
            "cargo:warning=could not install the web client's packages (npm install in web/); the server will run without its UI"
        );
        return;
    }
    if !npm(&["run", "build"]) {
        println!(
            "cargo:warning=could not build the web client (npm run build in web/); the server will run without its UI"
        );
    }
}
