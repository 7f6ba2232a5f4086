/**
 * Every user-visible string of the page, in Japanese and English, and the
 * small translator that applies them.
 *
 * Markup asks for text with attributes: `data-i18n` (text content),
 * `data-i18n-aria` (aria-label), `data-i18n-title` (title) and
 * `data-i18n-placeholder`. Views call `t(key, params)` for text they build.
 * Mathematical symbols (z, W, ∂L/∂W) are the same in both languages and are
 * not in the table.
 */

/** The supported languages, in the order the switch shows them. */
export const LANGS = Object.freeze(['ja', 'en']);

/** key → { ja, en }. `{name}` marks a parameter. */
export const STRINGS = Object.freeze({
  'app.title': { ja: 'バックプロップ・ラボ', en: 'Backprop Lab' },
  'app.tagline': { ja: '誤差逆伝播を1フェーズずつ見る', en: 'Watch backpropagation, one phase at a time' },
  'app.lang': { ja: '表示言語', en: 'Language' },
  'app.present': { ja: '発表モード', en: 'Presentation mode' },
  'app.presentShort': { ja: '発表', en: 'Present' },
  'app.help': { ja: 'ヘルプとショートカット', en: 'Help and shortcuts' },
  'app.skip': { ja: 'ネットワーク図へ移動', en: 'Skip to the network' },
  'conn.connecting': { ja: '接続中…', en: 'Connecting…' },
  'conn.open': { ja: '接続済み', en: 'Connected' },
  'conn.retry': { ja: '切断 — {s} 秒後に再接続', en: 'Disconnected — retrying in {s} s' },
  'conn.ended': { ja: '切断済み', en: 'Disconnected' },
  'conn.offline': { ja: '未接続のため送信できません', en: 'Not connected: command not sent' },

  'section.run': { ja: '実行', en: 'Run' },
  'section.network': { ja: 'ネットワーク', en: 'Network' },
  'section.advanced': { ja: '詳細設定', en: 'Advanced settings' },
  'section.stats': { ja: '数値', en: 'Numbers' },
  'section.graph': { ja: 'ネットワーク図', en: 'Network diagram' },

  'ctl.stepPhase': { ja: '1フェーズ進む', en: 'Step phase' },
  'ctl.stepIteration': { ja: '1反復進む', en: 'Step iteration' },
  'ctl.play': { ja: '再生', en: 'Play' },
  'ctl.pause': { ja: '一時停止', en: 'Pause' },
  'ctl.reset': { ja: 'リセット', en: 'Reset' },
  'ctl.speed': { ja: '速度（反復/秒）', en: 'Speed (iterations/s)' },
  'ctl.dataset': { ja: 'データセット', en: 'Dataset' },
  'ctl.layers': { ja: '隠れ層の数', en: 'Hidden layers' },
  'ctl.neurons': { ja: '1層のニューロン数', en: 'Neurons per layer' },
  'ctl.activation': { ja: '活性化関数', en: 'Activation' },
  'ctl.lr': { ja: '学習率 η', en: 'Learning rate η' },
  'ctl.applied': { ja: '設定を変更すると新しい実行が始まります', en: 'Changing a setting starts a new run' },

  'ds.xor': { ja: 'XOR（排他的論理和）', en: 'XOR' },
  'ds.circle': { ja: '円', en: 'Circle' },
  'ds.gauss': { ja: '2つのガウス分布', en: 'Two Gaussians' },
  'ds.spiral': { ja: '渦巻き', en: 'Spiral' },
  'ds.moons': { ja: '三日月', en: 'Moons' },
  'ds.blobs3': { ja: '3クラスの塊', en: '3 blobs' },
  'ds.blobs4': { ja: '4クラスの塊', en: '4 blobs' },
  'ds.blobs5': { ja: '5クラスの塊', en: '5 blobs' },
  'ds.spiral3': { ja: '3本の渦巻き', en: '3-arm spiral' },
  'ds.spiral4': { ja: '4本の渦巻き', en: '4-arm spiral' },
  'ds.spiral5': { ja: '5本の渦巻き', en: '5-arm spiral' },
  'ds.sine': { ja: '正弦波（回帰）', en: 'Sine (regression)' },
  'ds.plane': { ja: '平面（回帰）', en: 'Plane (regression)' },
  'ds.single': { ja: '1ニューロンの例', en: 'Single-neuron example' },
  'ds.custom': { ja: '自分で置いた点', en: 'My points' },

  'adv.group.data': { ja: 'データ', en: 'Data' },
  'adv.group.network': { ja: 'ネットワーク構造', en: 'Network' },
  'adv.group.optimizer': { ja: '最適化', en: 'Optimizer' },
  'adv.group.schedule': { ja: '学習率スケジュール', en: 'Learning-rate schedule' },
  'adv.group.regularization': { ja: '正則化とクリッピング', en: 'Regularization and clipping' },
  'adv.n_samples': { ja: 'サンプル数', en: 'Samples' },
  'adv.noise': { ja: 'ノイズ', en: 'Noise' },
  'adv.test_fraction': { ja: 'テストの割合', en: 'Test fraction' },
  'adv.batch_size': { ja: 'バッチサイズ（0 = 全データ、1 = 1サンプルずつ）', en: 'Batch size (0 = full batch, 1 = single sample)' },
  'adv.seed': { ja: '乱数シード', en: 'Random seed' },
  'adv.layer_activations': { ja: '層ごとの活性化関数', en: 'Activation of each hidden layer' },
  'adv.output_activation': { ja: '出力層の活性化関数（MSE のとき）', en: 'Output activation (with MSE)' },
  'adv.loss': { ja: '損失関数', en: 'Loss' },
  'adv.init': { ja: '重みの初期化', en: 'Weight initialization' },
  'adv.init_scale': { ja: '初期化の大きさ', en: 'Init scale' },
  'adv.norm': { ja: '正規化', en: 'Normalization' },
  'adv.dropout': { ja: 'ドロップアウト率', en: 'Dropout rate' },
  'adv.residual': { ja: '残差接続', en: 'Residual connections' },
  'adv.alpha': { ja: 'Leaky ReLU の傾き / ELU の α', en: 'Leaky ReLU slope / ELU α' },
  'adv.optimizer': { ja: '最適化手法', en: 'Optimizer' },
  'adv.optimizer.momentum': { ja: 'モーメンタム', en: 'Momentum' },
  'adv.optimizer.dampening': { ja: 'ダンプニング', en: 'Dampening' },
  'adv.optimizer.nesterov': { ja: 'Nesterov 加速', en: 'Nesterov momentum' },
  'adv.optimizer.weight_decay': { ja: '重み減衰', en: 'Weight decay' },
  'adv.optimizer.alpha': { ja: 'RMSprop の平滑化 α', en: 'RMSprop smoothing α' },
  'adv.optimizer.centered': { ja: 'RMSprop を中心化', en: 'Centered RMSprop' },
  'adv.optimizer.eps': { ja: 'ε（ゼロ除算よけ）', en: 'ε (avoids division by zero)' },
  'adv.optimizer.beta1': { ja: 'Adam の β₁', en: 'Adam β₁' },
  'adv.optimizer.beta2': { ja: 'Adam の β₂', en: 'Adam β₂' },
  'adv.optimizer.lr_decay': { ja: 'Adagrad の学習率減衰', en: 'Adagrad lr decay' },
  'adv.optimizer.initial_accumulator_value': { ja: 'Adagrad の累積初期値', en: 'Adagrad initial accumulator' },
  'adv.schedule': { ja: 'スケジュール', en: 'Schedule' },
  'adv.schedule.step_size': { ja: '減衰の間隔（反復）', en: 'Step size (iterations)' },
  'adv.schedule.gamma': { ja: '減衰率 γ', en: 'Decay factor γ' },
  'adv.schedule.t_max': { ja: 'コサインの周期 T_max', en: 'Cosine period T_max' },
  'adv.schedule.eta_min': { ja: '最小学習率 η_min', en: 'Minimum lr η_min' },
  'adv.schedule.warmup': { ja: 'ウォームアップ反復数', en: 'Warm-up iterations' },
  'adv.schedule.warmup_start': { ja: 'ウォームアップ開始倍率', en: 'Warm-up start factor' },
  'adv.clip_norm': { ja: '勾配ノルムの上限（0 = なし）', en: 'Clip gradient norm (0 = off)' },
  'adv.clip_value': { ja: '勾配値の上限（0 = なし）', en: 'Clip gradient value (0 = off)' },
  'adv.l1': { ja: 'L1 正則化', en: 'L1 regularization' },
  'adv.l2': { ja: 'L2 正則化', en: 'L2 regularization' },
  'adv.features': { ja: '入力特徴量', en: 'Input features' },
  'adv.default': { ja: '既定値', en: 'default' },
  'opt.none': { ja: 'なし', en: 'none' },
  'opt.auto': { ja: '自動', en: 'auto' },
  'opt.batch': { ja: 'バッチ正規化', en: 'batch norm' },
  'opt.layer': { ja: 'レイヤー正規化', en: 'layer norm' },
  'opt.constant': { ja: '一定', en: 'constant' },
  'opt.step': { ja: '段階的', en: 'step' },
  'opt.exponential': { ja: '指数的', en: 'exponential' },
  'opt.cosine': { ja: 'コサイン', en: 'cosine' },

  'phase.forward': { ja: '順伝播', en: 'Forward pass' },
  'phase.loss': { ja: '損失', en: 'Loss' },
  'phase.backward': { ja: '逆伝播', en: 'Backward pass' },
  'phase.update': { ja: '更新', en: 'Update' },
  'phase.ready': { ja: '準備完了 — 「1フェーズ進む」で開始', en: 'Ready — press “Step phase” to begin' },
  'phase.readyFollow': { ja: '先生が始めるのを待っています', en: 'Waiting for the teacher to begin' },
  'phase.forward.say': { ja: '入力が左から右へ層ごとに伝わり、各ニューロンが活性化します', en: 'Values travel left to right, layer by layer; each neuron fills with its activation' },
  'phase.loss.say': { ja: '出力を目標と比べて損失を計算します', en: 'The output meets its target and the loss is computed' },
  'phase.backward.say': { ja: '勾配が右から左へ伝わり、辺の色と太さが ∂L/∂W を示します', en: 'Gradients travel right to left; edge colour and width show ∂L/∂W' },
  'phase.update.say': { ja: '重みが勾配の逆向きに少し動きます', en: 'Weights take a small step against their gradient' },
  'phase.iteration': { ja: '反復 {n}', en: 'Iteration {n}' },
  'phase.next': { ja: '次: {p}', en: 'Next: {p}' },
  'phase.formula': { ja: '式', en: 'Formula' },

  'net.input': { ja: '入力', en: 'Input' },
  'net.hidden': { ja: '隠れ層 {l}', en: 'Hidden {l}' },
  'net.output': { ja: '出力', en: 'Output' },
  'net.label': { ja: 'ニューラルネットワーク。各ニューロンと重みはフォーカスすると数値を表示します', en: 'Neural network. Focus any neuron or weight to read its numbers' },
  'net.node': { ja: '第{l}層 ニューロン {j}', en: 'Layer {l}, neuron {j}' },
  'net.inputNode': { ja: '入力 {name}', en: 'Input {name}' },
  'net.edge': { ja: '重み 第{l}層: {i} → {j}', en: 'Weight in layer {l}: {i} → {j}' },
  'net.showsW': { ja: '辺: 重み W', en: 'Edges: weights W' },
  'net.showsDW': { ja: '辺: 勾配 ∂L/∂W（破線）', en: 'Edges: gradients ∂L/∂W (dashed)' },
  'net.legendNeg': { ja: '負', en: 'negative' },
  'net.legendPos': { ja: '正', en: 'positive' },
  'net.legendWidth': { ja: '太さ = 大きさ', en: 'width = magnitude' },
  'net.target': { ja: '目標 t', en: 'target t' },
  'net.mean': { ja: '（バッチ平均）', en: '(batch mean)' },
  'net.unknown': { ja: 'まだ計算されていません', en: 'not computed yet' },

  'tip.weight': { ja: '重み', en: 'weight' },
  'tip.grad': { ja: '勾配', en: 'gradient' },
  'tip.step': { ja: '直前の更新量', en: 'last update' },
  'tip.bias': { ja: 'バイアス', en: 'bias' },
  'tip.pre': { ja: '総入力', en: 'pre-activation' },
  'tip.act': { ja: '活性', en: 'activation' },
  'tip.delta': { ja: '誤差', en: 'error term' },

  'stat.iteration': { ja: '反復', en: 'Iteration' },
  'stat.epoch': { ja: 'エポック', en: 'Epoch' },
  'stat.batch_loss': { ja: 'バッチ損失', en: 'Batch loss' },
  'stat.train_loss': { ja: '訓練損失', en: 'Train loss' },
  'stat.test_loss': { ja: 'テスト損失', en: 'Test loss' },
  'stat.train_acc': { ja: '訓練正解率', en: 'Train accuracy' },
  'stat.test_acc': { ja: 'テスト正解率', en: 'Test accuracy' },
  'stat.none': { ja: '—', en: '—' },

  'chart.train': { ja: '訓練', en: 'train' },
  'chart.test': { ja: 'テスト', en: 'test' },
  'chart.iteration': { ja: '反復', en: 'iteration' },
  'chart.empty': { ja: '1反復終えると表示されます', en: 'Appears after the first iteration' },
  'data.class': { ja: 'クラス {k}', en: 'class {k}' },

  'say.phase': { ja: '{phase}、反復 {n}', en: '{phase}, iteration {n}' },
  'say.loss': { ja: '損失 {v}', en: 'loss {v}' },
  'say.playing': { ja: '再生中', en: 'Playing' },
  'say.paused': { ja: '一時停止中', en: 'Paused' },
  'say.run': { ja: '新しい実行: {ds}、層 {sizes}', en: 'New run: {ds}, layers {sizes}' },

  'err.invalid': { ja: '入力が正しくありません', en: 'Invalid input' },
  'err.limit': { ja: '上限を超えています', en: 'Limit exceeded' },
  'err.nonfinite': { ja: '数値が発散しました（NaN/∞）。学習率を下げてリセットしてください', en: 'The numbers diverged (NaN/∞). Lower the learning rate and reset' },
  'err.rate_limited': { ja: '操作が速すぎます', en: 'Too many commands' },
  'err.too_large': { ja: 'メッセージが大きすぎます', en: 'Message too large' },
  'err.internal': { ja: 'サーバー内部エラー', en: 'Server error' },
  'err.other': { ja: 'エラー', en: 'Error' },
  'err.malformed': { ja: 'メッセージを読み取れません', en: 'Unreadable message' },
  'err.unknown_type': { ja: '未知の種類のメッセージです', en: 'Unknown message type' },
  'err.unknown_field': { ja: '未知の項目があります', en: 'Unknown field' },
  'err.idle': { ja: '操作がなかったためセッションを終了しました。再読み込みしてください', en: 'The session ended after being idle. Reload the page' },
  'err.detail.nonfinite': { ja: '反復 {iteration} の{phase}で {where} が最初に発散しました', en: 'first in {where} during the {phase} of iteration {iteration}' },
  'err.detail.limit': { ja: 'サーバーの上限 {limit} を超えています', en: 'over the server limit {limit}' },
  'err.detail.field': { ja: '項目 {field} を確認してください', en: 'check {field}' },
  'err.detail.server': { ja: '詳細はマウスを重ねると表示されます（英語）', en: 'see details' },
  'err.dismiss': { ja: '閉じる', en: 'Dismiss' },

  'key.space': { ja: 'スペース', en: 'Space' },
  'help.title': { ja: 'キーボード操作', en: 'Keyboard shortcuts' },
  'help.close': { ja: '閉じる', en: 'Close' },
  'help.space': { ja: '再生 / 一時停止', en: 'Play / pause' },
  'help.right': { ja: '1フェーズ進む', en: 'Step one phase forward' },
  'help.left': { ja: '1フェーズ戻る', en: 'Step one phase back' },
  'help.dot': { ja: '1反復進む', en: 'Step one iteration' },
  'help.r': { ja: 'リセット', en: 'Reset' },
  'help.p': { ja: '発表モードの切り替え', en: 'Toggle presentation mode' },
  'help.l': { ja: '言語の切り替え', en: 'Switch language' },
  'help.net': { ja: 'ネットワーク図の中で: ニューロン間・重み間を移動（タブキーでニューロンと重みを切り替え、エンターキーで詳細）', en: 'Inside the network: move between neurons or between weights (Tab switches neurons ↔ weights, Enter inspects)' },
  'help.q': { ja: 'このヘルプを開く / 閉じる', en: 'Open / close this help' },
  'help.key': { ja: 'キー', en: 'Key' },
  'help.action': { ja: '操作', en: 'Action' },
  'help.about': {
    ja: '各フェーズ: 順伝播で値が左から右へ、損失で出力と目標を比較、逆伝播で勾配が右から左へ、更新で重みが動きます。色はオレンジ = 負、青 = 正、濃さと太さ = 大きさ。ニューロンや辺にマウスを乗せるかフォーカスすると数値が出ます。',
    en: 'Each phase: forward sends values left to right, loss compares output with target, backward sends gradients right to left, update moves the weights. Colour: orange = negative, blue = positive, strength and width = magnitude. Hover or focus a neuron or edge to read its numbers.',
  },
  'help.back': { ja: '戻る', en: 'Back' },

  // ---- views: maps, neuron maps, health charts, inspector (server/views.py) ----
  'map.title': { ja: 'データとネットワークの予測', en: 'Data and the network’s prediction' },
  'map.boundary': { ja: '決定境界の地図（背景 = ネットワークの予測、点 = データ）', en: 'Decision map (background = the network’s prediction, dots = data)' },
  'map.regression': { ja: '回帰の出力（背景または曲線 = 予測、点 = データ）', en: 'Regression output (background or curve = prediction, dots = data)' },
  'map.legend': { ja: '丸 = 訓練、四角 = テスト', en: 'circle = train, square = test' },
  'map.summary': { ja: '反復 {iteration} の地図。訓練 {train} 点、テスト {test} 点', en: 'Map at iteration {iteration}: {train} train and {test} test points' },
  'neurons.title': { ja: 'ニューロンごとの活性（入力平面上）', en: 'Each neuron’s activation over the plane' },
  'neurons.none': { ja: 'ニューロンが多すぎるため、個別の地図は省略しています', en: 'Too many neurons: per-neuron maps are left out' },
  'neurons.unit': { ja: '{id} のニューロン {j} の地図（クリックで詳しく）', en: 'Map of neuron {j} of {id} (click to inspect)' },
  'health.title': { ja: '学習の健康状態', en: 'Training health' },
  'health.log': { ja: '対数目盛', en: 'log scale' },
  'health.loss': { ja: '損失（訓練・テスト）', en: 'Loss (train, test)' },
  'health.accuracy': { ja: '正解率', en: 'Accuracy' },
  'health.gnorm': { ja: '層ごとの勾配ノルム ‖∂L/∂W‖（対数）', en: 'Gradient norm per layer ‖∂L/∂W‖ (log)' },
  'health.ratio': { ja: '更新量/重み ‖ΔW‖/‖W‖（対数）', en: 'Update / weight ‖ΔW‖/‖W‖ (log)' },
  'insp.title': { ja: 'インスペクタ', en: 'Inspector' },
  'insp.close': { ja: 'インスペクタを閉じる', en: 'Close the inspector' },
  'insp.weight': { ja: '第{l}層の重み w[{i},{j}]（第{p}層のニューロン {i} → ニューロン {j}）', en: 'weight w[{i},{j}] of layer {l} (neuron {i} of layer {p} → neuron {j})' },
  'insp.weightInput': { ja: '第{l}層の重み w[{i},{j}]（入力 {i} → ニューロン {j}）', en: 'weight w[{i},{j}] of layer {l} (input {i} → neuron {j})' },
  'insp.bias': { ja: '第{l}層のバイアス b[{j}]', en: 'bias b[{j}] of layer {l}' },
  'insp.unit': { ja: '第{l}層のニューロン {j}', en: 'neuron {j} of layer {l}' },
  'insp.param': { ja: '{id}[{j}]', en: '{id}[{j}]' },
  'insp.sample': { ja: '{split}サンプル #{index}（評価モード）', en: '{split} sample #{index} (evaluation mode)' },
  'insp.batch': { ja: 'ミニバッチ全体（{B} サンプル）', en: 'the whole batch ({B} samples)' },
  'insp.split.train': { ja: '訓練', en: 'train' },
  'insp.split.test': { ja: 'テスト', en: 'test' },
  'insp.notYet': { ja: 'ステップを進めると、各フェーズがその数値を埋めていきます', en: 'Step: each phase fills in the numbers it computes' },
  'insp.value': { ja: '現在の値', en: 'value now' },
  'insp.toBatch': { ja: 'バッチ全体に戻る', en: 'Back to the batch' },
  'insp.itsBias': { ja: 'このニューロンのバイアスを見る', en: 'Inspect its bias' },
  'insp.forward': { ja: '順伝播', en: 'Forward' },
  'insp.meanNote': { ja: 'バッチ平均です。{f}(z) の平均は z の平均の {f} とは一致しません。各サンプルの z と a = {f}(z) は連鎖律の表にあります。', en: 'Batch means: the mean of {f}(z) is not {f} of the mean z. Each sample’s own z and a = {f}(z) are in the chain rule’s table.' },
  'insp.chain': { ja: '連鎖律', en: 'Chain rule' },
  'insp.rows': { ja: 'バッチの先頭 {shown} 行（全 {B} 行の和が勾配）', en: 'First {shown} of {B} rows (their sum over all rows is the gradient)' },
  'insp.col.b': { ja: 'サンプル', en: 'sample' },
  'insp.col.product': { ja: '積', en: 'product' },
  'insp.path': { ja: '損失までさかのぼる', en: 'Back to the loss' },
  'insp.pathNote': { ja: '後ろの層の δ = ∂L/∂z（バッチでは和）。∂L/∂a = Σₖ w δₖ', en: 'δ = ∂L/∂z of each later layer (summed over the batch); ∂L/∂a = Σₖ w δₖ' },
  'insp.pathNoteSample': { ja: 'このサンプルの、後ろの層の δ = ∂ℓ/∂z。∂ℓ/∂a = Σₖ w δₖ', en: 'δ = ∂ℓ/∂z of each later layer for this sample; ∂ℓ/∂a = Σₖ w δₖ' },
  'insp.check': { ja: '数値微分による検算', en: 'Finite-difference check' },
  'insp.checkLine': { ja: '逆伝播 {bp}、数値微分 {fd}、相対誤差 {err}', en: 'backprop {bp}, finite difference {fd}, relative error {err}' },
  'insp.agree': { ja: '一致', en: 'agree' },
  'insp.disagree': { ja: '不一致', en: 'disagree' },
  'insp.checkNote': { ja: '(L(θ+h) − L(θ−h)) / 2h、h = {h}', en: '(L(θ+h) − L(θ−h)) / 2h with h = {h}' },
  'insp.update': { ja: '更新', en: 'Update' },
  'insp.noUpdate': { ja: 'この反復の更新はまだです', en: 'This iteration has not updated yet' },
  'insp.optimizer': { ja: '{name} による反復 {it} の更新', en: 'Update of iteration {it} by {name}' },
  'insp.editTitle': { ja: '手で値を変える', en: 'Set it by hand' },
  'insp.edit': { ja: '新しい値', en: 'New value' },
  'insp.set': { ja: '設定', en: 'Set' },
  'insp.editNote': { ja: '反復の区切りで適用され、記録されます（再生しても同じ結果になります）', en: 'Applied between iterations and recorded, so replaying gives the same numbers' },
  'insp.badNumber': { ja: '有限の数を入力してください', en: 'Enter a finite number' },
  'insp.edited': { ja: '{old} → {value} に変更。訓練損失 {train}、テスト損失 {test}', en: 'Set from {old} to {value}: train loss {train}, test loss {test}' },
  'insp.pending': { ja: 'この反復が終わったら適用します', en: 'Will apply when this iteration ends' },
  'focus.hint': { ja: '地図上の点をクリックすると、その1サンプルの値を追跡します（←/→ でも選べます）', en: 'Click a point on the map to follow that one sample (or use ←/→ on the map)' },
  'focus.line': { ja: '{split}サンプル #{index}: 入力 {p}、目標 {t}、出力 {y}、損失 {loss}', en: '{split} sample #{index}: input {p}, target {t}, output {y}, loss {loss}' },
  'focus.values': { ja: '各層の活性 a（評価モード、反復 {iteration}）', en: 'Activations a of each layer (evaluation mode, iteration {iteration})' },
  // ---- focus in the network, points the user adds ----
  'net.focused': { ja: '表示中: {split}サンプル #{index} の値', en: 'Showing {split} sample #{index}' },
  'net.backToMean': { ja: 'バッチ平均に戻す', en: 'Back to batch mean' },
  'net.sampleNote': { ja: '（{split}サンプル #{index}）', en: '({split} sample #{index})' },
  'pts.add': { ja: '点を追加', en: 'Add points' },
  'pts.adding': { ja: '点の追加をやめる', en: 'Stop adding' },
  'pts.class': { ja: '追加する点のクラス', en: 'Class of the points you add' },
  'pts.train': { ja: 'この {n} 点で学習', en: 'Train on my {n} points' },
  'pts.clear': { ja: '点を消す', en: 'Clear points' },
  'pts.hint': { ja: '地図をクリックすると選んだクラスの点を置きます（矢印キーと Enter でも可。{n}/{max} 点）', en: 'Click the map to place a point of the chosen class, or move with the arrow keys and press Enter ({n}/{max} points)' },
  'pts.tooFew': { ja: '学習には2点以上が必要です', en: 'Add at least two points to train on' },
  'pts.tooMany': { ja: '点は {max} 個までです', en: 'At most {max} points' },
  'pts.refused': { ja: 'サーバーが受け付けませんでした: {message}', en: 'The server refused these points: {message}' },
  // ---- end of views block ----

  // ---- timeline block (views/timeline.js) ----
  'tl.title': { ja: 'タイムライン', en: 'Timeline' },
  'tl.scrub': { ja: '反復（タイムライン）', en: 'Iteration (timeline)' },
  'tl.pos': { ja: '反復 {it} / {len}', en: 'Iteration {it} of {len}' },
  'tl.next': { ja: '次は{phase}', en: 'next: {phase}' },
  'tl.phase.forward': { ja: '順伝播', en: 'forward' },
  'tl.phase.loss': { ja: '損失', en: 'loss' },
  'tl.phase.backward': { ja: '逆伝播', en: 'backward' },
  'tl.phase.update': { ja: '更新', en: 'update' },
  'tl.phaseEnd': { ja: '反復の終わり', en: 'end of iteration' },
  'tl.backIteration': { ja: '1反復戻る', en: 'Back one iteration' },
  'tl.backPhase': { ja: '1フェーズ戻る', en: 'Back one phase' },
  'tl.backIterationShort': { ja: '◀◀ 反復', en: '◀◀ Iteration' },
  'tl.backPhaseShort': { ja: '◀ フェーズ', en: '◀ Phase' },
  'tl.fastest': { ja: '最高速で再生', en: 'Play at full speed' },
  'tl.jump': { ja: '反復へ移動', en: 'Go to iteration' },
  'tl.jumpPhase': { ja: 'フェーズ', en: 'Phase' },
  'tl.go': { ja: '移動', en: 'Go' },
  'tl.more': { ja: '設定変更・分岐・保存', en: 'Change, branches, save' },
  'tl.changeHere': { ja: 'ここから設定を変える', en: 'Change settings from here' },
  'tl.changeHint': { ja: '過去の時点で変えると、元の続きは分岐として残ります', en: 'Changing at a past point keeps the old future as a branch' },
  'tl.apply': { ja: 'ここから適用', en: 'Apply from here' },
  'tl.optimizer': { ja: '最適化手法', en: 'Optimizer' },
  'tl.branches': { ja: '分岐', en: 'Branches' },
  'tl.branchRoot': { ja: '最初の実行', en: 'Original run' },
  'tl.branch': { ja: '分岐 {id}', en: 'Branch {id}' },
  'tl.branchFrom': { ja: '反復 {it} から {change}', en: 'from iteration {it}: {change}' },
  'tl.branchLen': { ja: '{len} 反復', en: '{len} iterations' },
  'tl.branchLoss': { ja: '損失 {loss}', en: 'loss {loss}' },
  'tl.halted': { ja: '発散して停止', en: 'halted: non-finite' },
  'tl.save': { ja: '実行を保存', en: 'Save run' },
  'tl.open': { ja: '実行を開く…', en: 'Open run…' },
  'tl.metricsCsv': { ja: '指標（CSV）', en: 'Metrics (CSV)' },
  'tl.weightsCsv': { ja: '重み（CSV）', en: 'Weights (CSV)' },
  'tl.badFile': { ja: '実行ファイルとして読めません', en: 'This is not a run file' },
  'tl.tooBig': { ja: 'ファイルが大きすぎます（{kb} KB）', en: 'The file is too large ({kb} KB)' },
  'tl.mark.set': { ja: '反復 {it}: 設定を変更（{what}）', en: 'Iteration {it}: setting changed ({what})' },
  'tl.mark.edit': { ja: '反復 {it}: 重みを手で変更（{what}）', en: 'Iteration {it}: weight set by hand ({what})' },
  'tl.mark.spike': { ja: '反復 {it}: 損失の急上昇（{loss}）', en: 'Iteration {it}: loss spike ({loss})' },
  'tl.mark.nonfinite': { ja: '反復 {it}: 数値が発散（{where}）', en: 'Iteration {it}: non-finite value ({where})' },
  // ---- end of timeline block ----

  // ---- share with a class, follow a teacher (views/share-dialog.js, views/follow-bar.js) ----
  'share.button': { ja: 'クラス', en: 'Class' },
  'share.buttonOn': { ja: '共有中 · {n}', en: 'Sharing · {n}' },
  'share.buttonTitle': { ja: 'この実行をクラスに共有する、またはクラスに参加する', en: 'Share this run with a class, or join a class' },
  'share.title': { ja: 'クラスに共有', en: 'Share with class' },
  'share.titleOff': { ja: 'クラス', en: 'Class' },
  'share.intro': {
    ja: '生徒はこのリンクを開くか、「クラス」→「クラスに参加」にコードを入力します。この実行をライブで見られますが、変更はできません。',
    en: 'Students open this link, or type the code under “Class” → “Join a class”. They watch this run live and cannot change it.',
  },
  'share.introOff': {
    ja: '先生は「共有を始める」で、この実行をクラス全員の画面にライブで映せます。生徒は下に先生のコードを入力します。',
    en: 'Teachers: “Start sharing” shows this run live on every student’s screen. Students: type your teacher’s code below.',
  },
  'share.code': { ja: 'クラスのコード', en: 'Class code' },
  'share.loopback': {
    ja: 'このアドレスはこのコンピューターの中でしか開けません。生徒の端末から開くには、HOST=0.0.0.0 make run で起動し、このページをコンピューターのネットワークアドレス（例: http://192.168.1.20:8000）で開き直してから、もう一度共有してください。',
    en: 'This address only opens on this computer. For students’ devices, start the server with HOST=0.0.0.0 make run and reopen this page at the computer’s network address (e.g. http://192.168.1.20:8000), then share again.',
  },
  'share.starting': { ja: '共有を開始しています…', en: 'Starting to share…' },
  'share.link': { ja: '参加用リンク', en: 'Link to follow' },
  'share.copy': { ja: 'コピー', en: 'Copy' },
  'share.copied': { ja: 'リンクをコピーしました', en: 'Link copied' },
  'share.copyManual': { ja: 'リンクを選択しました。Ctrl+C（⌘C）でコピーしてください', en: 'Link selected: press Ctrl+C (⌘C) to copy it' },
  'share.followers': { ja: '参加中: {n} 人', en: '{n} following' },
  'share.off': { ja: '共有していません', en: 'Not sharing' },
  'share.stop': { ja: '共有をやめる', en: 'Stop sharing' },
  'share.start': { ja: '共有を始める', en: 'Start sharing' },
  'share.close': { ja: '閉じる', en: 'Close' },
  'share.join': { ja: 'クラスに参加', en: 'Join a class' },
  'share.joinCode': { ja: '先生のコード（英数字6文字）', en: 'Teacher’s code (6 letters and digits)' },
  'share.joinGo': { ja: '参加', en: 'Join' },
  'share.badCode': { ja: 'コードは英数字6文字です（例: K7Q2XM）', en: 'A code is 6 letters and digits, e.g. K7Q2XM' },
  'follow.joining': { ja: 'クラスの実行 {code} に接続しています…', en: 'Joining class run {code}…' },
  'follow.on': { ja: 'クラスの実行 {code} を視聴中', en: 'Following class run {code}' },
  'follow.note': { ja: '先生の実行をライブで表示しています。ここでは変更できません。', en: 'The teacher’s run, live. It cannot be changed here.' },
  'follow.fork': { ja: '自分用にコピー', en: 'Make my own copy' },
  'follow.leave': { ja: '退出', en: 'Leave' },
  'follow.stopped': { ja: '先生が共有を終了しました', en: 'The teacher stopped sharing' },
  'follow.ended': { ja: 'クラスの実行が終了しました', en: 'The class run ended' },
  'follow.own': { ja: '自分の実行を始める', en: 'Start my own run' },
  'follow.forking': { ja: 'コピーを作っています…', en: 'Making your copy…' },
  'follow.forked': { ja: 'これはあなた専用のコピーです。自由に操作できます（先生の実行は変わりません）', en: 'This is your own copy now: change anything (the teacher’s run is not affected)' },
  'follow.stoppedNote': { ja: '先生が再び共有すると、同じコード {code} で参加し直せます。', en: 'If the teacher shares again, rejoin with the same code {code}.' },
  'follow.rejoin': { ja: 'もう一度参加', en: 'Rejoin' },
  'follow.region': { ja: 'クラスの視聴', en: 'Following a class' },
  'follow.readOnly': { ja: '先生の実行を視聴中のため操作できません。「自分用にコピー」すると自由に操作できます', en: 'This is the teacher’s run: choose “Make my own copy” to change it' },
  'err.read_only': { ja: 'この実行は先生のもので、ここでは変更できません', en: 'This is the teacher’s run: it cannot be changed here' },
  'err.unknown_code': { ja: 'そのコードで共有しているクラスはありません', en: 'No class is sharing with that code' },
  'err.detail.read_only': { ja: '変更するには「自分用にコピー」を押してください', en: 'make your own copy to change it' },
  'err.detail.unknown_code': { ja: 'コードを先生に確認してください。それまでは自分の実行を使えます', en: 'check the code with your teacher; meanwhile this is your own run' },
  'err.detail.max_followers': { ja: 'このクラスは満員です。自分の実行を始めました', en: 'this class is full, so this is your own run' },
  // ---- end of share and follow block ----
});

/** Replace `{name}` in `s` by `params.name`. */
function fill(s, params) {
  return params ? s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m)) : s;
}

/** The language to start in: a saved choice, else the browser's language. */
export function initialLang(saved, navigatorLanguages) {
  if (LANGS.includes(saved)) return saved;
  for (const tag of navigatorLanguages || []) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (LANGS.includes(base)) return base;
  }
  return 'en';
}

/** A translator for one current language; `apply(root)` relabels marked-up DOM. */
export class I18n {
  /** @param {string} lang one of {@link LANGS} */
  constructor(lang) {
    this.lang = LANGS.includes(lang) ? lang : 'en';
  }

  /** The string for `key` in the current language, with `{params}` filled in. */
  t(key, params) {
    const entry = STRINGS[key];
    if (!entry) throw new Error(`i18n: missing key ${key}`);
    return fill(entry[this.lang], params);
  }

  /** Whether `key` exists in the table. */
  has(key) {
    return Object.prototype.hasOwnProperty.call(STRINGS, key);
  }

  /** Switch language (callers then re-apply and re-render). */
  setLang(lang) {
    if (LANGS.includes(lang)) this.lang = lang;
  }

  /** Set text, aria-labels, titles and placeholders of every marked element under `root`. */
  apply(root) {
    for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = this.t(el.dataset.i18n);
    for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', this.t(el.dataset.i18nAria));
    for (const el of root.querySelectorAll('[data-i18n-title]')) el.setAttribute('title', this.t(el.dataset.i18nTitle));
    for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.setAttribute('placeholder', this.t(el.dataset.i18nPlaceholder));
  }
}
