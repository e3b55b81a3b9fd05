// The page's "Embed a badge" section: builds the Markdown and HTML that embed a counter's
// badge, copies them, and previews the badge without counting a visit (`count=false`).
//
// The snippets are set through `value`, never through innerHTML, so nothing typed becomes
// markup on this page; and only names that pass the check below get a snippet, so a snippet
// pasted into a README or a page needs no escaping. Nothing is inline in the HTML, so the
// page works under a Content-Security-Policy without 'unsafe-inline'.
"use strict";

// The namespaces and keys the page builds a badge for.
const BADGE_NAME = /^[A-Za-z0-9_.-]{3,64}$/;
const BADGE_NAME_RULE = "3 to 64 characters: letters, digits, '_', '.' or '-'";

// The preview waits for typing to pause, so a word typed is one request, not one per letter.
const PREVIEW_DELAY_MS = 300;

function badgePath(namespace, key) {
  return `/api/v1/counters/${encodeURIComponent(namespace)}/${encodeURIComponent(key)}/badge.svg`;
}

// The two snippets for a checked namespace and key and one of the select's styles.
function badgeSnippets(origin, namespace, key, style) {
  const url = `${origin}${badgePath(namespace, key)}?style=${encodeURIComponent(style)}`;
  return {
    markdown: `![visitors](${url})`,
    html: `<img src="${url}" alt="visitors">`,
  };
}

// Shows or clears the message under one input; true when the value is accepted.
function checkName(input, label) {
  const error = document.getElementById(`${input.id}-error`);
  const ok = BADGE_NAME.test(input.value);
  if (ok) {
    input.removeAttribute("aria-invalid");
    error.textContent = "";
    error.hidden = true;
  } else {
    input.setAttribute("aria-invalid", "true");
    error.textContent = `${label} must be ${BADGE_NAME_RULE}.`;
    error.hidden = false;
  }
  return ok;
}

function setUpBadge() {
  const namespace = document.getElementById("badge-namespace");
  const key = document.getElementById("badge-key");
  const style = document.getElementById("badge-style");
  const output = document.getElementById("badge-output");
  const markdown = document.getElementById("badge-markdown");
  const html = document.getElementById("badge-html");
  const preview = document.getElementById("badge-preview");
  const status = document.getElementById("badge-copy-status");
  let previewTimer;

  // A badge that cannot be shown (no such route yet, the store down, a rate limit) hides
  // itself; the snippets stay, since they are right whatever the preview does.
  preview.addEventListener("load", () => {
    preview.hidden = false;
  });
  preview.addEventListener("error", () => {
    preview.hidden = true;
  });

  function update() {
    const namespaceOk = checkName(namespace, "Namespace");
    const keyOk = checkName(key, "Key");
    status.textContent = "";
    clearTimeout(previewTimer);
    if (!(namespaceOk && keyOk)) {
      markdown.value = "";
      html.value = "";
      output.hidden = true;
      preview.hidden = true;
      preview.removeAttribute("src");
      return;
    }
    const snippets = badgeSnippets(location.origin, namespace.value, key.value, style.value);
    markdown.value = snippets.markdown;
    html.value = snippets.html;
    output.hidden = false;
    const query = `style=${encodeURIComponent(style.value)}&count=false`;
    const src = `${badgePath(namespace.value, key.value)}?${query}`;
    previewTimer = setTimeout(() => {
      preview.src = src;
    }, PREVIEW_DELAY_MS);
  }

  async function copy(button) {
    const source = document.getElementById(button.dataset.copy);
    const what = button.dataset.copy === "badge-markdown" ? "Markdown" : "HTML";
    try {
      // Only secure contexts (https, localhost) have the async clipboard.
      if (!navigator.clipboard) {
        throw new Error("no clipboard");
      }
      await navigator.clipboard.writeText(source.value);
      status.textContent = `${what} copied.`;
      status.className = "status ok";
    } catch {
      source.focus();
      source.select();
      status.textContent = `Could not copy: the ${what} is selected, press Ctrl+C (⌘C) to copy it.`;
      status.className = "status warn";
    }
  }

  namespace.addEventListener("input", update);
  key.addEventListener("input", update);
  style.addEventListener("change", update);
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", () => copy(button));
  }
  update();
}

document.addEventListener("DOMContentLoaded", setUpBadge);
