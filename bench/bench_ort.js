// ONNX Runtime (npm onnxruntime-node, CPU EP) anchor: plain CLIP ViT image forward, 2 threads, for
// any backbone bench/vit_onnx.py exported (../shared/anchors/bench_ort.js does ViT-B/16 alone).
// usage: node bench_ort.js MODELDIR [SIZES] [TAG]   (TAG: b16 default, l14, h14, bigg14; run where
// onnxruntime-node is installed). Prints "ORT S=<side> min/med <a>/<b>s" per side (7 runs).
const ort = require('onnxruntime-node');
(async () => {
  const dir = process.argv[2], tag = process.argv[4] || 'b16';
  for (const S of (process.argv[3] || '224,448').split(',').map(Number)) {
    const sess = await ort.InferenceSession.create(`${dir}/vit_${tag}_${S}.onnx`,
      { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const x = new ort.Tensor('float32', Float32Array.from({ length: 3 * S * S }, () => Math.random()), [1, 3, S, S]);
    await sess.run({ x });
    const ts = [];
    for (let i = 0; i < 7; i++) { const t = process.hrtime.bigint(); await sess.run({ x }); ts.push(Number(process.hrtime.bigint() - t) / 1e9); }
    ts.sort((a, b) => a - b);
    console.log(`ORT S=${S} min/med ${ts[0].toFixed(3)}/${ts[3].toFixed(3)}s`);
  }
})();
