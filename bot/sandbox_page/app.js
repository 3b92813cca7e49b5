// The sandbox page: polls /api/state and shows each chat as its members would see it.
// Every text is put on the page with textContent or as elements built here from Telegram's
// entities (bold, italic, links...), never as HTML, so nothing the bot or a person typed can
// run or restyle the page.
"use strict";

const POLL_MS = 700;          // at rest
const QUICK_POLL_MS = 150;    // for a few seconds after someone typed or pressed: the bot is answering
const QUICK_FOR_MS = 3000;
const TELEGRAM_LINK = /^https?:\/\/(t\.me|telegram\.me)\/([A-Za-z0-9_]+)\/?(\?.*)?$/i;
// What Telegram makes tappable in a message by itself: /commands and web addresses.
const TAPPABLE = /(?<![^\s(])\/[A-Za-z][A-Za-z0-9_]{0,31}(?![\w/])|\bhttps?:\/\/[^\s<>"]*[^\s<>".,;:!?)]/g;

const ui = {
  columns: document.querySelector("[data-columns]"),
  tabs: document.querySelector("[data-tabs]"),
  connection: document.querySelector("[data-connection]"),
  refusalCount: document.querySelector("[data-refusal-count]"),
  languages: document.querySelector("[data-languages]"),
  addForm: document.querySelector("[data-add-person]"),
  formError: document.querySelector("[data-form-error]"),
};

let state = null;            // the last /api/state
let lastText = "";           // its raw text: unchanged means nothing to do
const columns = new Map();   // chat id → {section, list, composer, input, select, ...}
let activeChat = null;       // the column shown on a narrow screen
let quickUntil = 0;
let inflight = null;         // the /api/state request under way
let queued = null;           // one more after it, for changes made meanwhile

// ------------------------------------------------------------------ talking to the sandbox

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body),
  });
  let payload = {};
  try { payload = await response.json(); } catch (e) { /* no body */ }
  if (!response.ok) throw new Error(payload.error || `the sandbox answered ${response.status}`);
  quickUntil = Date.now() + QUICK_FOR_MS;
  await poll();
  return payload;
}

// Resolves once a state fetched after this call has been shown.
function poll() {
  if (!inflight) {
    inflight = fetchState().finally(() => { inflight = null; });
    return inflight;
  }
  if (!queued) queued = inflight.then(() => { queued = null; return poll(); });
  return queued;
}

async function fetchState() {
  try {
    const response = await fetch("/api/state", {cache: "no-store"});
    const text = await response.text();
    setConnection(true);
    if (text !== lastText) {
      lastText = text;
      state = JSON.parse(text);
      render();
    }
  } catch (e) {
    setConnection(false);
  }
}

function setConnection(live) {
  ui.connection.textContent = live ? "live" : "the sandbox is not answering (stopped?)";
  ui.connection.classList.toggle("down", !live);
}

// ------------------------------------------------------------------ small helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function person(id) {
  return state ? state.people.find((p) => p.id === id) : undefined;
}

function colorOf(id) {
  const palette = ["#b3261e", "#1f6f43", "#7a3fb0", "#a15c00", "#00639b", "#8a1f5e", "#3c6e00", "#5b4bb7"];
  return palette[Math.abs(Number(id)) % palette.length];
}

function timeOf(seconds) {
  if (!seconds) return "";
  return new Date(seconds * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
}

function roleName(p) {
  if (p.status === "creator") return "group creator (admin)";
  if (p.status === "administrator") return "group admin";
  if (p.status === "member" || p.status === "restricted") return "group member";
  return "not in the group";
}

function botRole(status) {
  return {creator: "the group's owner", administrator: "an admin", member: "a member"}[status] || "not in the group";
}

// Who acts in a column: the person whose private chat it is, or whoever is chosen in the group.
function viewerOf(chatId) {
  const column = columns.get(chatId);
  if (!column) return undefined;
  if (column.kind === "private") return column.personId;
  return column.select && column.select.value ? Number(column.select.value) : undefined;
}

// ------------------------------------------------------------------ acting

async function say(chatId, text, replyTo) {
  const column = columns.get(chatId);
  const userId = viewerOf(chatId);
  if (userId === undefined) { showError(column, "Choose who is typing."); return false; }
  try {
    await post("/api/say", {user_id: userId, chat_id: chatId, text, reply_to: replyTo ?? null});
    showError(column, "");
    return true;
  } catch (e) {
    showError(column, e.message);
    return false;
  }
}

async function press(chatId, messageId, data) {
  const column = columns.get(chatId);
  const userId = viewerOf(chatId);
  if (userId === undefined) { showError(column, "Choose who is pressing."); return; }
  try {
    await post("/api/press", {user_id: userId, chat_id: chatId, message_id: messageId, data});
    showError(column, "");
  } catch (e) {
    showError(column, e.message);
  }
}

// A link to the bot opens the person's private chat (sending /start <payload>, as Telegram does);
// other links open in a new tab.
async function openLink(chatId, url) {
  const match = TELEGRAM_LINK.exec(url);
  if (!match) {
    window.open(url, "_blank", "noopener,noreferrer");
    return;
  }
  const column = columns.get(chatId);
  const userId = viewerOf(chatId);
  if (userId === undefined) { showError(column, "Choose who is opening the link."); return; }
  if (!state || match[2].toLowerCase() !== state.bot.username.toLowerCase()) {
    showError(column, `A link to @${match[2]}, outside the sandbox.`);
    return;
  }
  try {
    const result = await post("/api/open", {user_id: userId, url});
    showError(column, "");
    showChat(result.chat_id);
  } catch (e) {
    showError(column, e.message);
  }
}

function showError(column, message) {
  if (!column) return;
  column.error.textContent = message;
  column.error.hidden = !message;
}

// ------------------------------------------------------------------ Telegram's formatting

// Builds text with its entities (UTF-16 offsets, like JavaScript strings) as elements.
function formatted(text, entities, options) {
  const box = el("div", {class: "text", "data-text": true});
  const sorted = [...(entities || [])].sort((a, b) => a.offset - b.offset || b.length - a.length);
  build(box, text || "", sorted, 0, (text || "").length, options);
  return box;
}

function build(parent, text, entities, start, end, options) {
  let pos = start;
  let i = 0;
  while (i < entities.length) {
    const entity = entities[i];
    const from = Math.max(entity.offset, start);
    const to = Math.min(entity.offset + entity.length, end);
    if (from < pos || to <= from) { i += 1; continue; }  // overlapping or empty: shown as plain text
    plain(parent, text.slice(pos, from), options);
    let j = i + 1;
    const inner = [];
    while (j < entities.length && entities[j].offset < to) { inner.push(entities[j]); j += 1; }
    const [outer, holder, literal] = entityElement(entity, options);
    if (literal) holder.textContent = text.slice(from, to);
    else build(holder, text, inner, from, to, options);
    parent.append(outer);
    pos = to;
    i = j;
  }
  plain(parent, text.slice(pos, end), options);
}

function entityElement(entity, options) {
  const simple = {bold: "b", italic: "i", underline: "u", strikethrough: "s"};
  if (simple[entity.type]) { const n = el(simple[entity.type]); return [n, n, false]; }
  switch (entity.type) {
    case "code": { const n = el("code"); return [n, n, true]; }
    case "pre": { const code = el("code"); return [el("pre", {}, code), code, true]; }
    case "blockquote":
    case "expandable_blockquote": { const n = el("blockquote"); return [n, n, false]; }
    case "spoiler": {
      const n = el("span", {class: "spoiler", title: "spoiler: press to show",
                            onclick: () => n.classList.add("shown")});
      return [n, n, false];
    }
    case "text_link": return linkElement(entity.url, options);
    default: { const n = el("span", {class: `entity-${entity.type}`}); return [n, n, false]; }
  }
}

function linkElement(url, options) {
  const a = el("a", {class: "link", title: url});
  if (/^https?:\/\//i.test(url)) {
    a.href = url;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    a.addEventListener("click", (event) => { event.preventDefault(); openLink(options.chatId, url); });
  } else if (/^tg:\/\/user\?id=\d+$/i.test(url)) {
    a.classList.add("mention");  // a text mention: Telegram opens their profile
  }
  return [a, a, false];
}

// Plain text; in the bot's messages, /commands and web addresses can be tapped, as in Telegram.
function plain(parent, text, options) {
  if (!text) return;
  if (!options.commands) { parent.append(text); return; }
  let pos = 0;
  for (const match of text.matchAll(TAPPABLE)) {
    parent.append(text.slice(pos, match.index));
    const found = match[0];
    if (found.startsWith("/")) {
      parent.append(el("a", {class: "command", href: "#", "data-command": found, text: found, onclick: (event) => {
        event.preventDefault();
        say(options.chatId, found);
      }}));
    } else {
      const [link] = linkElement(found, options);
      link.textContent = found;
      parent.append(link);
    }
    pos = match.index + found.length;
  }
  parent.append(text.slice(pos));
}

// ------------------------------------------------------------------ the chats

function itemKey(item) {
  return item.type === "refusal" ? `r${item.seq}` : `m${item.id}`;
}

function renderItem(chat, item) {
  if (item.type === "refusal") {
    const box = el("div", {class: "refusal", "data-refusal": item.seq, role: "note"},
      el("div", {class: "refusal-head", text: `Telegram refused ${item.method} (${item.code})`}),
      el("div", {class: "refusal-why", text: item.description}));
    if (item.attempt) {
      box.append(el("details", {}, el("summary", {text: "What the bot tried to send"}),
        el("div", {class: "refusal-attempt", text: item.attempt})));
    }
    return box;
  }
  if (item.service) {
    return el("div", {class: "service", "data-message-id": item.id, text: item.service});
  }
  const fromBot = item.from.bot;
  const mine = chat.kind === "private" && item.from.id === chat.person;
  const article = el("article", {
    class: `message ${fromBot ? "from-bot" : "from-person"}${mine ? " mine" : ""}`,
    "data-message-id": item.id, "data-from": fromBot ? "bot" : item.from.id,
  });
  const head = el("div", {class: "who"});
  const name = el("span", {class: "name", text: fromBot ? `${item.from.name} (bot)` : item.from.name});
  if (!fromBot) name.style.color = colorOf(item.from.id);
  head.append(name, el("span", {class: "time", text: timeOf(item.date)}));
  if (item.edited) head.append(el("span", {class: "edited", text: "edited"}));
  head.append(el("button", {type: "button", class: "reply-to", title: "Reply to this message",
                            "aria-label": "Reply to this message", text: "↩",
                            onclick: () => setReply(chat.id, item)}));
  article.append(head);
  if (item.reply_to) {
    article.append(el("div", {class: "quote"},
      el("span", {class: "quote-name", text: item.reply_to.name}),
      el("span", {class: "quote-text", text: item.reply_to.text || "…"})));
  }
  if (item.document) {
    const kb = Math.max(1, Math.round(item.document.size / 1024));
    article.append(el("div", {class: "document", text: `📄 ${item.document.name} (${kb} KB)`}));
  }
  if (item.text) {
    article.append(formatted(item.text, item.entities, {chatId: chat.id, commands: fromBot}));
  }
  if (item.buttons && item.buttons.length) {
    const keyboard = el("div", {class: "keyboard"});
    for (const row of item.buttons) {
      const line = el("div", {class: "keyboard-row"});
      for (const button of row) {
        if (button.callback_data !== undefined) {
          line.append(el("button", {type: "button", class: "inline-button", "data-button": button.text,
                                    "data-callback": button.callback_data, text: button.text,
                                    onclick: () => press(chat.id, item.id, button.callback_data)}));
        } else if (button.url !== undefined) {
          line.append(el("button", {type: "button", class: "inline-button url-button", "data-button": button.text,
                                    "data-url": button.url, title: button.url, text: `${button.text} ↗`,
                                    onclick: () => openLink(chat.id, button.url)}));
        } else {
          line.append(el("button", {type: "button", class: "inline-button", disabled: true, text: button.text}));
        }
      }
      keyboard.append(line);
    }
    article.append(keyboard);
  }
  for (const notice of item.notices || []) {
    const who = person(notice.to);
    const label = `${notice.alert ? "Alert" : "Popup"} shown to ${who ? who.name : notice.to}: `;
    article.append(el("div", {class: `notice${notice.alert ? " alert" : ""}`, "data-notice": true},
      el("span", {class: "notice-label", text: label}), notice.text));
  }
  return article;
}

function renderChat(chat) {
  const column = columns.get(chat.id);
  const list = column.list;
  const viewer = chat.kind === "group" ? "" : String(chat.person);
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const existing = new Map();
  for (const node of list.children) existing.set(node.dataset.key, node);
  const nodes = [];
  for (const item of chat.items) {
    const key = itemKey(item);
    const sig = JSON.stringify(item) + viewer;
    const old = existing.get(key);
    if (old && old.dataset.sig === sig) { nodes.push(old); continue; }
    const node = renderItem(chat, item);
    node.dataset.key = key;
    node.dataset.sig = sig;
    nodes.push(node);
  }
  if (!nodes.length) {
    const hint = chat.kind === "group" ? "No messages yet." : "No messages yet. Type /start to begin.";
    const empty = el("div", {class: "empty", text: hint});
    empty.dataset.key = "empty";
    nodes.push(empty);
  }
  const same = nodes.length === list.children.length && nodes.every((n, i) => list.children[i] === n);
  if (same) return;
  const top = list.scrollTop;
  list.replaceChildren(...nodes);
  list.scrollTop = atBottom ? list.scrollHeight : top;
}

function setReply(chatId, item) {
  const column = columns.get(chatId);
  column.replyTo = item.id;
  column.replyText.textContent = `Replying to ${item.from.name}: ${(item.text || item.service || "").slice(0, 60)}`;
  column.replyChip.hidden = false;
  column.input.focus();
}

function clearReply(column) {
  column.replyTo = null;
  column.replyChip.hidden = true;
}

function createColumn(chat) {
  const section = el("section", {class: `column ${chat.kind}`, "data-chat": chat.id, "data-kind": chat.kind,
                                 "data-person": chat.person ?? null});
  const header = el("header", {class: "column-head"});
  const list = el("div", {class: "messages", "data-messages": true, "aria-live": "polite"});
  const input = el("input", {type: "text", "data-input": true, autocomplete: "off", enterkeyhint: "send",
                             maxlength: 4096, "aria-label": "Message"});
  const menu = el("div", {class: "menu", "data-menu": true, hidden: true});
  const error = el("div", {class: "composer-error", "data-error": true, role: "alert", hidden: true});
  const replyText = el("span");
  const column = {
    section, list, input, menu, error, header, replyText, chatId: chat.id, kind: chat.kind, personId: chat.person,
    select: null, replyTo: null, replyChip: null, sending: false,
  };
  column.replyChip = el("div", {class: "reply-chip", hidden: true}, replyText,
    el("button", {type: "button", title: "Do not reply", "aria-label": "Do not reply", text: "×",
                  onclick: () => clearReply(column)}));
  const composer = el("form", {class: "composer", "data-composer": chat.id});
  if (chat.kind === "group") {
    column.select = el("select", {"data-as": true, "aria-label": "Who is typing in the group",
                                  onchange: () => { updatePlaceholder(column); renderMenu(column); }});
    composer.append(el("label", {class: "as"}, "Typing in the group as ", column.select));
  }
  composer.append(column.replyChip, menu, error, el("div", {class: "composer-row"},
    el("button", {type: "button", class: "menu-button", title: "The bot's command menu",
                  "aria-label": "The bot's command menu", "data-menu-toggle": true, text: "/",
                  onclick: () => { renderMenu(column); menu.hidden = !menu.hidden; }}),
    input,
    el("button", {type: "submit", class: "send", "data-send": true, text: "Send"})));
  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || column.sending) return;
    column.sending = true;
    try {
      if (await say(chat.id, text, column.replyTo)) {
        input.value = "";
        clearReply(column);
        menu.hidden = true;
      }
    } finally {
      column.sending = false;
    }
  });
  section.append(header, list, composer);
  column.composer = composer;
  columns.set(chat.id, column);
  return column;
}

function renderMenu(column) {
  const viewer = person(viewerOf(column.chatId));
  const commands = viewer ? viewer.menu[column.kind === "group" ? "group" : "private"] : [];
  const items = commands.map((c) => el("button", {type: "button", class: "menu-item", "data-menu-command": c.command,
    onclick: async () => {
      column.menu.hidden = true;
      await say(column.chatId, `/${c.command}`);
    }}, el("span", {class: "menu-command", text: `/${c.command}`}), el("span", {text: c.description})));
  if (!items.length) items.push(el("div", {class: "menu-empty", text: "The bot has not set a command menu."}));
  column.menu.replaceChildren(...items);
}

function updatePlaceholder(column) {
  const viewer = person(viewerOf(column.chatId));
  column.input.placeholder = viewer ? `Type as ${viewer.name}…` : "Type…";
}

function renderHeader(column, chat) {
  const sig = JSON.stringify(chat.kind === "group" ? [state.group, state.people.map((p) => p.status)]
                                                   : person(chat.person));
  if (column.header.dataset.sig === sig) return;
  column.header.dataset.sig = sig;
  const parts = [];
  if (chat.kind === "group") {
    const present = state.people.filter((p) => p.status !== "left" && p.status !== "kicked").length;
    parts.push(el("div", {class: "title", text: state.group.title}),
      el("div", {class: "detail", text: `group · ${present} people · the bot is ${botRole(state.group.bot_status)}`}));
  } else {
    const p = person(chat.person);
    const badges = el("div", {class: "badges"},
      el("span", {class: `badge${p.admin ? " admin" : ""}`, "data-role": p.status, text: roleName(p)}),
      el("span", {class: "badge", text: `language ${p.language}`}));
    if (!p.started) badges.append(el("span", {class: "badge warn", text: "has not opened the bot"}));
    const actions = el("div", {class: "head-actions"});
    if (p.status === "administrator" || p.status === "member" || p.status === "restricted") {
      const makeAdmin = p.status !== "administrator";
      actions.append(el("button", {type: "button", class: "small", "data-admin-toggle": true,
        text: makeAdmin ? "Make group admin" : "Remove group admin",
        onclick: async () => {
          try { await post("/api/admin", {user_id: p.id, admin: makeAdmin}); showError(column, ""); }
          catch (e) { showError(column, e.message); }
        }}));
    }
    const name = el("div", {class: "title"}, el("span", {text: p.name}));
    name.firstChild.style.color = colorOf(p.id);
    parts.push(name, el("div", {class: "detail", text: `private chat with the bot · @${p.username} · user id ${p.id}`}),
      badges, actions);
  }
  column.header.replaceChildren(...parts);
}

function renderGroupSelect(column) {
  const select = column.select;
  const previous = select.value;
  const present = state.people.filter((p) => p.status !== "left" && p.status !== "kicked");
  const wanted = present.map((p) => `${p.id}:${p.name}`).join("|");
  if (select.dataset.options !== wanted) {
    select.replaceChildren(...present.map((p) => el("option", {value: p.id, text: p.name})));
    select.dataset.options = wanted;
    if (present.some((p) => String(p.id) === previous)) select.value = previous;
  }
  updatePlaceholder(column);
}

function renderTabs() {
  const labels = state.chats.map((chat) => (chat.kind === "group" ? "Group" : person(chat.person).name));
  const sig = JSON.stringify(labels);
  if (ui.tabs.dataset.sig === sig) return;
  ui.tabs.dataset.sig = sig;
  const tabs = state.chats.map((chat) => {
    const label = chat.kind === "group" ? "Group" : person(chat.person).name;
    return el("button", {type: "button", class: `tab${chat.id === activeChat ? " active" : ""}`, "data-tab": chat.id,
                         text: label, onclick: () => showChat(chat.id)});
  });
  ui.tabs.replaceChildren(...tabs);
}

function showChat(chatId) {
  activeChat = chatId;
  for (const [id, column] of columns) column.section.classList.toggle("active", id === chatId);
  for (const tab of ui.tabs.children) tab.classList.toggle("active", Number(tab.dataset.tab) === chatId);
  const column = columns.get(chatId);
  if (column) column.section.scrollIntoView({behavior: "smooth", block: "nearest", inline: "nearest"});
}

function render() {
  document.title = `${state.group.title} · Timebank sandbox`;
  if (ui.languages.dataset.codes !== state.languages.join()) {
    ui.languages.replaceChildren(...state.languages.map((code) => el("option", {value: code})));
    ui.languages.dataset.codes = state.languages.join();
  }
  ui.refusalCount.hidden = state.refusals === 0;
  ui.refusalCount.textContent = `Telegram refused ${state.refusals} request${state.refusals === 1 ? "" : "s"}`;
  for (const chat of state.chats) {
    const column = columns.get(chat.id) || createColumn(chat);
    if (!column.section.isConnected) ui.columns.append(column.section);
    renderHeader(column, chat);
    if (column.select) renderGroupSelect(column);
    else updatePlaceholder(column);
    if (!column.menu.hidden) renderMenu(column);
    renderChat(chat);
  }
  if (activeChat === null && state.chats.length) activeChat = state.chats[0].id;
  renderTabs();
  for (const [id, column] of columns) column.section.classList.toggle("active", id === activeChat);
  for (const tab of ui.tabs.children) tab.classList.toggle("active", Number(tab.dataset.tab) === activeChat);
}

// The next refusal, wherever it is, when the counter is pressed.
ui.refusalCount.addEventListener("click", () => {
  const all = [...document.querySelectorAll("[data-refusal]")];
  if (!all.length) return;
  const target = all[all.length - 1];
  const section = target.closest("[data-chat]");
  if (section) showChat(Number(section.dataset.chat));
  target.scrollIntoView({behavior: "smooth", block: "center"});
});

ui.addForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(ui.addForm);
  try {
    const result = await post("/api/person", {
      name: data.get("name"), language: data.get("language"),
      admin: data.get("admin") !== null, started: data.get("started") !== null,
    });
    ui.formError.textContent = "";
    ui.addForm.elements.name.value = "";
    ui.addForm.closest("details").open = false;
    showChat(result.id);
  } catch (e) {
    ui.formError.textContent = e.message;
  }
});

async function pollForever() {
  await poll();
  setTimeout(pollForever, Date.now() < quickUntil ? QUICK_POLL_MS : POLL_MS);
}

pollForever();
