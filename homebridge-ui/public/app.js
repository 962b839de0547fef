// The settings page's behaviour. It talks only to window.homebridge: `request` reaches the
// plugin's server script (homebridge-ui/server.js), the config calls reach config.json. No
// framework and no build step, so what ships is what is reviewed.
(function () {
  'use strict';

  const hb = window.homebridge;
  const PLATFORM = 'IgrsSmartLock';
  const $ = (id) => document.getElementById(id);

  const STEP_TEXT = {
    register: [
      ['checking', 'Checking the lock with the server'],
      ['connecting', 'Connecting to the lock over Bluetooth'],
      ['requesting', 'Getting the registration from the server (setup code)'],
      ['writing', 'Sending it to the lock and waiting for its answer'],
      ['confirming', 'Confirming the lock\u2019s answer with the server'],
      ['done', 'Registered'],
    ],
    remove: [
      ['connecting', 'Connecting to the lock over Bluetooth'],
      ['requesting', 'Getting the removal from the server'],
      ['writing', 'Sending it to the lock and waiting for its answer'],
      ['confirming', 'Confirming the lock\u2019s answer with the server'],
      ['done', 'Removed'],
    ],
    'remove-force': [
      ['requesting', 'Asking the server to remove the lock from your account'],
      ['done', 'Removed'],
    ],
  };
  const LOCK_STATE = ['Unlocked', 'Locked', 'Jammed', 'Unknown'];

  let config = { platform: PLATFORM };
  let status = null;
  let locks = [];
  let nearby = [];
  let scanning = false;
  let job = null;
  let schemaShown = false;
  /** Shares made while the page is open: the profile has no call that lists a lock's members. */
  const shares = new Map();

  // Config (config.json through Homebridge UI)

  async function loadConfig() {
    const blocks = await hb.getPluginConfig();
    config = blocks.find((b) => b.platform === PLATFORM) || blocks[0] || { platform: PLATFORM };
    const input = $('ras-url');
    if (document.activeElement !== input) input.value = config.rasUrl || '';
    return config;
  }

  async function writeConfig(change, save) {
    await loadConfig();
    config = Object.assign({}, config, change, { platform: PLATFORM, name: config.name || 'IGRS Smart Lock' });
    await hb.updatePluginConfig([config]);
    if (save) await hb.savePluginConfig();
  }

  function overrideName(deviceId) {
    const entry = (config.locks || []).find((l) => l.deviceId === deviceId);
    return entry && entry.name ? entry.name : undefined;
  }

  // Requests and problems

  function toProblem(err) {
    if (err && typeof err === 'object' && typeof err.message === 'string') {
      const detail = err.error && typeof err.error === 'object' ? err.error : {};
      return { code: detail.code || 'internal', message: err.message, hint: detail.hint || '' };
    }
    return { code: 'internal', message: 'The settings server did not answer.', hint: 'Close the settings and open them again.' };
  }

  function showProblem(problem) {
    $('problem-message').textContent = problem.message;
    $('problem-hint').textContent = problem.hint;
    $('problem').dataset.code = problem.code;
    $('problem').hidden = false;
    $('problem').focus();
  }

  function clearProblem() {
    $('problem').hidden = true;
    delete $('problem').dataset.code;
  }

  /** One request to the server script; a failure is shown, then rethrown for the caller to stop. */
  async function call(path, body, options) {
    const quiet = options && options.quiet;
    if (!quiet) clearProblem();
    // The RAS address may have been edited in the settings form below since the last request.
    await loadConfig().catch(() => undefined);
    try {
      return await hb.request(path, Object.assign({ rasUrl: config.rasUrl }, body || {}));
    } catch (err) {
      const problem = toProblem(err);
      if (!quiet) showProblem(problem);
      if (problem.code === 'signed-out' && status) {
        status = Object.assign({}, status, { signedIn: false });
        render();
      }
      throw problem;
    }
  }

  /** Disables the control while the work runs, so a double click cannot start it twice. */
  async function busy(button, work) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      return await work();
    } catch {
      return undefined; // already shown by call()
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }

  function field(id, message) {
    const input = $(id);
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    showProblem({ code: 'invalid-input', message, hint: '' });
    return undefined;
  }

  function value(id) {
    const input = $(id);
    input.removeAttribute('aria-invalid');
    return input.value.trim();
  }

  // Server and account

  async function refreshStatus() {
    if (!config.rasUrl) {
      status = null;
      render();
      return;
    }
    try {
      status = await call('/status');
    } catch {
      status = null;
    }
    render();
    if (status && status.signedIn) await loadLocks();
  }

  async function useServer(event) {
    event.preventDefault();
    const url = value('ras-url');
    if (!/^https?:\/\/[^\s/]+\/?$/.test(url)) return field('ras-url', 'Type the RAS address like https://ras.example.com:8480 (no path after the port).');
    await busy($('ras-url-save'), async () => {
      await writeConfig({ rasUrl: url.replace(/\/$/, '') }, false);
      await refreshStatus();
    });
  }

  async function signIn(event) {
    event.preventDefault();
    const identifier = value('sign-in-identifier');
    const password = $('sign-in-password').value;
    if (!identifier) return field('sign-in-identifier', 'Type the e-mail address or phone number of your account.');
    if (!password) return field('sign-in-password', 'Type your password.');
    await busy($('sign-in'), async () => {
      status = await call('/account/sign-in', { identifier, password });
      $('sign-in-password').value = '';
      await signedIn('Signed in as ' + status.identifier + '.');
    });
  }

  async function sendCode() {
    const identifier = value('create-identifier');
    if (!identifier) return field('create-identifier', 'Type your e-mail address or phone number first.');
    await busy($('send-code'), async () => {
      const answer = await call('/account/code', { identifier });
      $('create-rest').hidden = false;
      const minutes = Math.max(1, Math.round(answer.expiresIn / 60));
      $('create-code-help').textContent = 'We sent a 6-digit code to ' + identifier + '. It is valid for ' + minutes + ' minutes.';
      $('send-code').textContent = 'Send a new code';
      $('create-code').focus();
    });
  }

  async function createAccount(event) {
    event.preventDefault();
    // Enter in the first field means "send me the code": the rest of the form is not shown yet.
    if ($('create-rest').hidden) return sendCode();
    const identifier = value('create-identifier');
    const verificationCode = value('create-code');
    const password = $('create-password').value;
    const displayName = value('create-name');
    if (!/^[0-9]{6}$/.test(verificationCode)) return field('create-code', 'The verification code is the 6 digits from the message we sent.');
    if (password.length < 8) return field('create-password', 'The password must have at least 8 characters.');
    await busy($('create'), async () => {
      status = await call('/account/create', { identifier, password, verificationCode, displayName });
      $('create-password').value = '';
      await signedIn('Account created; signed in as ' + status.identifier + '.');
    });
  }

  async function signedIn(message) {
    // The plugin reads the RAS address from config.json; the sign-in is useless to it until saved.
    await writeConfig({ rasUrl: status.rasUrl }, true);
    hb.toast.success(message + ' Homebridge picks this up within a minute.', 'IGRS Smart Lock');
    render();
    await loadLocks();
  }

  async function signOut() {
    await busy($('sign-out'), async () => {
      status = await call('/account/sign-out');
      locks = [];
      render();
      hb.toast.info('Signed out. Homebridge stops using this account.', 'IGRS Smart Lock');
      $('sign-in-identifier').focus();
    });
  }

  function selectTab(which) {
    const signIn = which === 'sign-in';
    $('tab-sign-in').setAttribute('aria-selected', String(signIn));
    $('tab-create').setAttribute('aria-selected', String(!signIn));
    $('tab-sign-in').tabIndex = signIn ? 0 : -1;
    $('tab-create').tabIndex = signIn ? -1 : 0;
    $('sign-in-form').hidden = !signIn;
    $('create-form').hidden = signIn;
  }

  function onTabKey(event) {
    if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') return;
    const next = event.target.id === 'tab-sign-in' ? 'tab-create' : 'tab-sign-in';
    selectTab(next === 'tab-sign-in' ? 'sign-in' : 'create');
    $(next).focus();
  }

  // The account's locks

  async function loadLocks() {
    try {
      const answer = await call('/locks');
      locks = answer.locks;
    } catch {
      locks = [];
    }
    renderLocks();
    renderNearby();
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === false) continue;
      if (k === 'text') node.textContent = v;
      else if (k === 'className') node.className = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children || []) if (c) node.append(c);
    return node;
  }

  function badge(text, tone) {
    return el('span', { className: 'igrs-badge' + (tone ? ' ' + tone : ''), text });
  }

  function renderLocks() {
    const list = $('lock-list');
    list.replaceChildren();
    $('locks-empty').hidden = locks.length > 0;
    for (const lock of locks) {
      const name = overrideName(lock.deviceId) || lock.name;
      const owner = lock.role === 'owner';
      const battery = lock.battery === undefined ? undefined : badge('Battery ' + lock.battery + ' %', lock.battery < 20 ? 'warn' : undefined);
      const item = el('li', { 'data-device-id': lock.deviceId }, [
        el('div', { className: 'igrs-item-head' }, [
          el('span', { className: 'igrs-item-title', text: name }),
          el('span', { className: 'igrs-id', text: lock.deviceId }),
        ]),
        el('div', { className: 'igrs-badges' }, [
          badge(LOCK_STATE[lock.lockState] || 'Unknown', lock.lockState === 2 ? 'bad' : lock.lockState === 1 ? 'good' : undefined),
          battery,
          lock.doorState === 1 ? badge('Door open', 'warn') : lock.doorState === 0 ? badge('Door closed') : undefined,
          badge(owner ? 'Yours' : 'Shared with you'),
        ]),
        el('p', { className: 'igrs-help', text: 'Last update ' + new Date(lock.updatedAt * 1000).toLocaleString() }),
        el('div', { className: 'igrs-actions' }, [
          el('button', { type: 'button', className: 'btn btn-secondary', text: 'Rename', 'aria-label': 'Rename ' + name, onclick: () => openPanel(item, renamePanel(lock, name)) }),
          owner ? el('button', { type: 'button', className: 'btn btn-secondary', text: 'Share', 'aria-label': 'Share ' + name, onclick: () => openPanel(item, sharePanel(lock, name)) }) : undefined,
          owner ? el('button', { type: 'button', className: 'btn btn-secondary', text: 'Remove', 'aria-label': 'Remove ' + name, onclick: () => openPanel(item, removePanel(lock, name)) }) : undefined,
        ]),
        sharesList(lock),
      ]);
      list.append(item);
    }
  }

  function openPanel(item, panel) {
    const existing = item.querySelector('.igrs-inline');
    if (existing) existing.remove();
    item.append(panel);
    const first = panel.querySelector('input, button');
    if (first) first.focus();
  }

  function closePanel(panel) {
    const item = panel.closest('li');
    panel.remove();
    const button = item && item.querySelector('.igrs-actions button');
    if (button) button.focus();
  }

  function renamePanel(lock, name) {
    const id = 'rename-' + lock.deviceId;
    const panel = el('form', { className: 'igrs-inline', novalidate: true, 'aria-label': 'Rename ' + name }, [
      el('label', { for: id, text: 'New name' }),
      el('input', { id, type: 'text', className: 'form-control', maxlength: '64', value: name, required: true }),
      el('p', { className: 'igrs-help', text: 'Saved in the plugin settings (the server has no rename). Homebridge renames the accessory with it after its next restart; the Home app may keep a name it already has for the lock, so rename it there too.' }),
      el('div', { className: 'igrs-row' }, [
        el('button', { type: 'submit', className: 'btn btn-primary', text: 'Save name' }),
        el('button', { type: 'button', className: 'btn btn-secondary', text: 'Cancel', onclick: () => closePanel(panel) }),
      ]),
    ]);
    panel.addEventListener('submit', async (event) => {
      event.preventDefault();
      const next = value(id);
      if (!next || next.length > 64) return field(id, 'A name has 1 to 64 characters.');
      await busy(panel.querySelector('button[type=submit]'), async () => {
        const others = (config.locks || []).filter((l) => l.deviceId !== lock.deviceId);
        const previous = (config.locks || []).find((l) => l.deviceId === lock.deviceId) || {};
        const entry = Object.assign({}, previous, { deviceId: lock.deviceId });
        if (next === lock.name) delete entry.name;
        else entry.name = next;
        const keep = Object.keys(entry).length > 1 ? [entry] : [];
        await writeConfig({ locks: others.concat(keep) }, true);
        hb.toast.success('Renamed to \u201c' + next + '\u201d.', 'IGRS Smart Lock');
        renderLocks();
      });
    });
    return panel;
  }

  function sharePanel(lock, name) {
    const ids = { who: 'share-who-' + lock.deviceId, from: 'share-from-' + lock.deviceId, until: 'share-until-' + lock.deviceId };
    const panel = el('form', { className: 'igrs-inline', novalidate: true, 'aria-label': 'Share ' + name }, [
      el('label', { for: ids.who, text: 'Share with (their e-mail address or phone number)' }),
      el('input', { id: ids.who, type: 'text', className: 'form-control', required: true, autocomplete: 'off' }),
      el('label', { for: ids.from, text: 'From (optional)' }),
      el('input', { id: ids.from, type: 'datetime-local', className: 'form-control' }),
      el('label', { for: ids.until, text: 'Until (optional)' }),
      el('input', { id: ids.until, type: 'datetime-local', className: 'form-control' }),
      el('p', { className: 'igrs-help', text: 'They can open and lock it from their own app or Homebridge during this time; leave the times empty to share without limits.' }),
      el('div', { className: 'igrs-row' }, [
        el('button', { type: 'submit', className: 'btn btn-primary', text: 'Share' }),
        el('button', { type: 'button', className: 'btn btn-secondary', text: 'Cancel', onclick: () => closePanel(panel) }),
      ]),
    ]);
    panel.addEventListener('submit', async (event) => {
      event.preventDefault();
      const identifier = value(ids.who);
      if (!identifier) return field(ids.who, 'Type the e-mail address or phone number of the person to share with.');
      const validFrom = toUnix(value(ids.from));
      const validUntil = toUnix(value(ids.until));
      await busy(panel.querySelector('button[type=submit]'), async () => {
        const answer = await call('/locks/share', { deviceId: lock.deviceId, identifier, validFrom, validUntil });
        const list = shares.get(lock.deviceId) || [];
        shares.set(lock.deviceId, list.filter((s) => s.accountId !== answer.accountId).concat([answer]));
        hb.toast.success('Shared \u201c' + name + '\u201d with ' + identifier + '.', 'IGRS Smart Lock');
        renderLocks();
      });
    });
    return panel;
  }

  function toUnix(local) {
    if (!local) return undefined;
    const ms = new Date(local).getTime();
    return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
  }

  function sharesList(lock) {
    const list = shares.get(lock.deviceId) || [];
    if (list.length === 0) return undefined;
    return el('ul', { className: 'igrs-help', 'aria-label': 'Shared with' }, list.map((s) => {
      const span = (s.validFrom ? 'from ' + new Date(s.validFrom * 1000).toLocaleString() + ' ' : '') + (s.validUntil ? 'until ' + new Date(s.validUntil * 1000).toLocaleString() : s.validFrom ? '' : 'without time limit');
      const stop = el('button', { type: 'button', className: 'btn btn-link', text: 'Stop sharing', 'aria-label': 'Stop sharing with ' + s.identifier });
      stop.addEventListener('click', () => busy(stop, async () => {
        await call('/locks/unshare', { deviceId: lock.deviceId, accountId: s.accountId });
        shares.set(lock.deviceId, (shares.get(lock.deviceId) || []).filter((x) => x.accountId !== s.accountId));
        hb.toast.info('Stopped sharing with ' + s.identifier + '.', 'IGRS Smart Lock');
        renderLocks();
      }));
      return el('li', {}, [document.createTextNode('Shared with ' + s.identifier + ' ' + span + ' '), stop]);
    }));
  }

  function removePanel(lock, name) {
    const panel = el('div', { className: 'igrs-inline', role: 'group', 'aria-label': 'Remove ' + name }, [
      el('p', { text: 'Remove \u201c' + name + '\u201d from your account? With the lock next to this Homebridge it is also released, so anyone with its setup code can register it again.' }),
      el('div', { className: 'igrs-row' }, [
        el('button', { type: 'button', className: 'btn btn-danger', text: 'Remove (lock nearby)', onclick: (e) => removeLock(e.currentTarget, lock, name, false) }),
        el('button', { type: 'button', className: 'btn btn-secondary', text: 'Remove without the lock', onclick: (e) => removeLock(e.currentTarget, lock, name, true) }),
        el('button', { type: 'button', className: 'btn btn-secondary', text: 'Cancel', onclick: () => closePanel(panel) }),
      ]),
      el('p', { className: 'igrs-help', text: 'Without the lock (lost, broken, out of range), only the server forgets it; the lock itself then has to be registered again in pairing mode by its next owner.' }),
    ]);
    return panel;
  }

  async function removeLock(button, lock, name, withoutLock) {
    await busy(button, async () => {
      startProgress(withoutLock ? 'remove-force' : 'remove', lock.deviceId, 'Removing \u201c' + name + '\u201d');
      try {
        await call('/locks/remove', { deviceId: lock.deviceId, withoutLock, adapter: config.adapter, companyId: config.companyId });
      } catch (problem) {
        failProgress();
        throw problem;
      }
      finishProgress();
      hb.toast.success('\u201c' + name + '\u201d was removed; Homebridge takes it out of HomeKit.', 'IGRS Smart Lock');
      await loadLocks();
    });
  }

  // Nearby locks and registration

  async function toggleScan() {
    if (scanning) {
      await busy($('scan'), async () => {
        await call('/scan/stop');
        setScanning(false);
      });
      return;
    }
    await busy($('scan'), async () => {
      $('scan-state').textContent = 'Starting Bluetooth\u2026';
      try {
        const answer = await call('/scan/start', { adapter: config.adapter, companyId: config.companyId });
        nearby = answer.devices;
        setScanning(true);
      } catch (problem) {
        $('scan-state').textContent = '';
        throw problem;
      }
      renderNearby();
    });
  }

  function setScanning(on) {
    scanning = on;
    $('scan').textContent = on ? 'Stop scanning' : 'Scan for locks';
    $('scan-state').textContent = on ? 'Scanning\u2026 locks appear as they advertise.' : '';
  }

  function signal(rssi) {
    if (rssi === undefined) return { bars: '\u2581', text: 'signal unknown' };
    const level = rssi >= -60 ? 4 : rssi >= -70 ? 3 : rssi >= -80 ? 2 : 1;
    const words = ['', 'weak', 'fair', 'good', 'strong'][level];
    return { bars: '\u2582\u2584\u2586\u2588'.slice(0, level), text: 'signal ' + words + ' (' + rssi + ' dBm)' };
  }

  function renderNearby() {
    const list = $('nearby-list');
    list.replaceChildren();
    if (scanning && nearby.length === 0) {
      list.append(el('li', { className: 'igrs-help', text: 'No lock found yet. Is it within a few metres, and did you press its button?' }));
    }
    for (const device of nearby) {
      const mine = locks.find((l) => l.deviceId === device.deviceId);
      const s = signal(device.rssi);
      const title = mine ? overrideName(mine.deviceId) || mine.name : device.name || 'Smart lock';
      const item = el('li', { 'data-device-id': device.deviceId }, [
        el('div', { className: 'igrs-item-head' }, [
          el('span', { className: 'igrs-item-title', text: title }),
          el('span', { className: 'igrs-id', text: device.deviceId }),
        ]),
        el('div', { className: 'igrs-badges' }, [
          el('span', { className: 'igrs-badge', title: s.text, 'aria-label': s.text }, [el('span', { className: 'igrs-signal', 'aria-hidden': 'true', text: s.bars }), document.createTextNode(' ' + (device.rssi === undefined ? '?' : device.rssi + ' dBm'))]),
          mine ? badge('On your account', 'good') : device.registered ? badge('Registered to an account', 'warn') : badge('Not registered'),
          device.pairingMode ? badge('Pairing mode', 'good') : badge('Not in pairing mode'),
        ]),
        mine
          ? undefined
          : el('div', { className: 'igrs-actions' }, [
              el('button', { type: 'button', className: 'btn btn-primary', text: 'Register\u2026', 'aria-label': 'Register ' + device.deviceId, onclick: () => openRegister(device) }),
            ]),
      ]);
      list.append(item);
    }
  }

  function openRegister(device) {
    const form = $('register-form');
    form.dataset.deviceId = device.deviceId;
    $('register-device').textContent = device.deviceId;
    $('register-pairing').textContent = device.pairingMode
      ? 'The lock is in pairing mode. Register within 60 seconds of pressing its button.'
      : 'The lock is not in pairing mode: press the button on the lock first, then register within 60 seconds.';
    $('register-name').value = device.name && device.name !== device.deviceId ? device.name : '';
    $('register-code').value = '';
    form.hidden = false;
    $('progress').hidden = true;
    $('register-name').focus();
  }

  async function register(event) {
    event.preventDefault();
    const form = $('register-form');
    const deviceId = form.dataset.deviceId;
    const name = value('register-name');
    const setupCode = value('register-code').replace(/[\s-]/g, '');
    if (!name) return field('register-name', 'Give the lock a name, like \u201cFront door\u201d.');
    if (!/^[0-9]{8}$/.test(setupCode)) return field('register-code', 'The setup code is the 8 digits printed on the lock and its box.');
    await busy($('register'), async () => {
      startProgress('register', deviceId, 'Registering \u201c' + name + '\u201d');
      try {
        await call('/locks/register', { deviceId, name, setupCode, adapter: config.adapter, companyId: config.companyId });
      } catch (problem) {
        failProgress();
        throw problem;
      }
      finishProgress();
      form.hidden = true;
      hb.toast.success('\u201c' + name + '\u201d is on your account. Homebridge adds it to HomeKit in a few seconds.', 'IGRS Smart Lock');
      await loadLocks();
    });
  }

  // Progress of a registration or removal, step by step

  function startProgress(kind, deviceId, title) {
    job = { kind, deviceId };
    $('progress-title').textContent = title;
    $('progress-steps').replaceChildren(...STEP_TEXT[kind].map(([step, text]) => el('li', { 'data-step': step, 'data-state': 'pending', text })));
    $('progress').hidden = false;
    $('nearby').hidden = false;
  }

  function markStep(step) {
    let reached = false;
    for (const li of $('progress-steps').children) {
      if (li.dataset.step === step) {
        reached = true;
        li.dataset.state = step === 'done' ? 'done' : 'active';
      } else {
        li.dataset.state = reached ? 'pending' : 'done';
      }
    }
  }

  function finishProgress() {
    markStep('done');
    job = null;
    // The button that started it may be gone (a hidden form, a removed lock): keep the focus near.
    $('progress-title').focus();
  }

  function failProgress() {
    const active = $('progress-steps').querySelector('[data-state="active"]') || $('progress-steps').querySelector('[data-state="pending"]');
    if (active) active.dataset.state = 'failed';
    job = null;
  }

  function onProgress(event) {
    const p = event.data;
    if (!job || !p || p.deviceId !== job.deviceId) return;
    markStep(p.step);
  }

  function onScan(event) {
    if (!scanning || !event.data) return;
    nearby = event.data.devices;
    renderNearby();
  }

  // Rendering of the sections

  function render() {
    const hasServer = Boolean(config.rasUrl);
    const signed = Boolean(status && status.signedIn);
    $('account').hidden = !hasServer || !status;
    $('signed-in').hidden = !signed;
    $('signed-out').hidden = signed;
    $('locks').hidden = !signed;
    $('nearby').hidden = !signed;
    if (signed) {
      $('who').textContent = status.identifier || status.accountId || 'your account';
      $('plugin-who').textContent = status.plugin.signedIn
        ? 'Homebridge uses this account for your locks' + (status.plugin.identifier && status.plugin.identifier !== status.identifier ? ' (its own sign-in: ' + status.plugin.identifier + ')' : '') + '.'
        : 'Homebridge is not signed in yet: sign in again to give it a session.';
    }
    // Homebridge may be signed in by itself (a password in its settings) while this page is not.
    $('plugin-only').hidden = signed || !(status && status.plugin.signedIn);
    if (status && status.plugin.signedIn) {
      $('plugin-only').textContent = 'Homebridge itself is signed in' + (status.plugin.identifier ? ' as ' + status.plugin.identifier : '') + '. Sign in here too to manage its locks.';
    }
    renderLocks();
  }

  function toggleSchemaForm() {
    schemaShown = !schemaShown;
    if (schemaShown) hb.showSchemaForm();
    else hb.hideSchemaForm();
    $('toggle-settings').textContent = schemaShown ? 'Hide all settings' : 'Show all settings';
    $('toggle-settings').setAttribute('aria-expanded', String(schemaShown));
  }

  async function init() {
    $('server-form').addEventListener('submit', useServer);
    $('sign-in-form').addEventListener('submit', signIn);
    $('create-form').addEventListener('submit', createAccount);
    $('send-code').addEventListener('click', sendCode);
    $('sign-out').addEventListener('click', signOut);
    $('tab-sign-in').addEventListener('click', () => selectTab('sign-in'));
    $('tab-create').addEventListener('click', () => selectTab('create'));
    $('tab-sign-in').addEventListener('keydown', onTabKey);
    $('tab-create').addEventListener('keydown', onTabKey);
    $('reload-locks').addEventListener('click', (e) => busy(e.currentTarget, loadLocks));
    $('scan').addEventListener('click', toggleScan);
    $('register-form').addEventListener('submit', register);
    $('register-cancel').addEventListener('click', () => {
      $('register-form').hidden = true;
      $('scan').focus();
    });
    $('toggle-settings').addEventListener('click', toggleSchemaForm);
    hb.addEventListener('igrs-progress', onProgress);
    hb.addEventListener('igrs-scan', onScan);
    selectTab('sign-in');
    try {
      await loadConfig();
    } catch {
      showProblem({ code: 'internal', message: 'The plugin settings could not be read.', hint: 'Close the settings and open them again.' });
      return;
    }
    await refreshStatus();
    document.body.dataset.ready = 'true';
  }

  hb.addEventListener('ready', () => {
    void init();
  });
})();
