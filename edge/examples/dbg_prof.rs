use tract_onnx::prelude::*;
use std::time::{Duration, Instant};
fn main() -> TractResult<()> {
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 16 << 20); libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20); }
    let args: Vec<String> = std::env::args().collect();
    let kernels = if args.get(1).map(|s| s.as_str()) == Some("tract") { edge::kernels::Kernels::Tract } else { edge::kernels::Kernels::Facecam };
    let proto = edge::race_net::read_any(std::path::Path::new("models/facecam.onnx")).unwrap();
    let plan = edge::detector::plan_for(&proto, &[1, 3, 240, 320], kernels)?.into_runnable()?;
    let mut state = plan.spawn()?;
    let input: TValue = Tensor::zero::<f32>(&[1, 3, 240, 320])?.into();
    let mut per: std::collections::BTreeMap<usize, (String, Duration)> = Default::default();
    for _ in 0..5 { state.run(tvec!(input.clone()))?; }
    let runs = 100;
    for _ in 0..runs {
        state.run_plan_with_eval(tvec!(input.clone()), |ctx, s, node, inputs| {
            let t = Instant::now();
            let out = tract_onnx::tract_core::plan::eval(ctx, s, node, inputs);
            let e = per.entry(node.id).or_insert_with(|| (format!("{} {}", node.op().name(), node.op().info().unwrap_or_default().join(" ")), Duration::ZERO));
            e.1 += t.elapsed();
            out
        })?;
    }
    let mut v: Vec<_> = per.into_values().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1));
    for (n, d) in v.iter().take(45) { println!("{:8.3} {}", d.as_secs_f64() * 1e3 / runs as f64, n); }
    Ok(())
}
