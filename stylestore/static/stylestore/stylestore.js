/*
 * Stylestore's storefront script: reports what the visitor sees and does.
 *
 * - Views: the script tag's data-stylestore-view="<reference>" (a product page) is
 *   reported once per page load; the server tells a refresh from a new view.
 * - Impressions: an image with data-stylestore-choice counts once at least half of it
 *   has been on screen (IntersectionObserver): a variant below the fold was not seen.
 * - Clicks: a click on a link that contains such an image, or on the image itself.
 * - Add to cart: a click on an element with data-stylestore-cart="<choice id>", or
 *   window.stylestore.track("add_to_cart", choiceId) from a shop's own cart code.
 * - Picks: the style picker form (data-stylestore-picker) sends a pick and swaps the
 *   image in place (an <img>, or the <source> of a <picture> whose <img> falls back to
 *   the original photo), and updates elements marked data-stylestore-look="<reference>"
 *   to name the look; if sending fails, the form is submitted normally. Then it fetches
 *   the page again (the server renders it with the pick; the copy runs no script and
 *   records nothing) and shows from it the other images the pick applies to (the
 *   product's gallery, data-stylestore-product; under a shop-wide pick, the form's
 *   data-stylestore-scope, every image), the parts of the page marked
 *   data-stylestore-refresh="<name>" (what follows the pick, such as "More in this
 *   style"), and add-to-cart buttons naming the new choices: without it the rest of
 *   the page showed the old looks until a reload, and a cart was credited to a look
 *   no longer shown.
 *
 * Events are batched and sent with navigator.sendBeacon as JSON (it survives page
 * unloads, so a click that navigates away is not lost), each with a random event_id
 * so a retried batch is not counted twice. The visitor cookie identifies the visitor.
 * The one thing this script stores: a link clicked around such an image names the
 * image's choice in a cookie that lives a minute (its name in the script tag's
 * data-stylestore-clicked), because the page it opens may be requested before the
 * click's beacon arrives, and must show the look the card showed.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var endpoint = script && script.getAttribute("data-stylestore-endpoint");
  if (!endpoint) return;
  var clickedCookie = script.getAttribute("data-stylestore-clicked");
  var CLICKED_SECONDS = 60;

  var MAX_BATCH = 50;
  var FLUSH_DELAY_MS = 1000;
  var queue = [];
  var timer = null;
  var seen = {};

  function eventId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function send(batch) {
    var body = JSON.stringify(batch);
    var blob = new Blob([body], { type: "application/json" });
    if (navigator.sendBeacon && navigator.sendBeacon(endpoint, blob)) return;
    fetch(endpoint, {
      method: "POST", body: body, keepalive: true, credentials: "same-origin",
      headers: { "Content-Type": "application/json" }
    }).catch(function () { /* analytics must never break the page */ });
  }

  function flush() {
    if (timer) { clearTimeout(timer); timer = null; }
    while (queue.length) send(queue.splice(0, MAX_BATCH));
  }

  function track(kind, choice, extra) {
    if (!choice && kind !== "view" && kind !== "pick") return;
    var event = { kind: kind, event_id: eventId() };
    if (choice) event.choice = choice;
    for (var key in extra || {}) event[key] = extra[key];
    queue.push(event);
    if (kind === "impression" || kind === "view") {
      if (!timer) timer = setTimeout(flush, FLUSH_DELAY_MS);
    } else {
      flush();  // clicks and carts often navigate away: send now
    }
  }

  // The page's view (a product page): sent with the first impressions, in one request.
  var viewed = script.getAttribute("data-stylestore-view");
  if (viewed) {
    track("view", null, { source: viewed, field: script.getAttribute("data-stylestore-view-field") || undefined });
  }

  // Impressions ---------------------------------------------------------------
  function observe(images) {
    if (!("IntersectionObserver" in window)) {
      images.forEach(function (img) { impression(img); });
      return;
    }
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) {
          impression(entry.target);
          observer.unobserve(entry.target);
        }
      });
    }, { threshold: 0.5 });
    images.forEach(function (img) { observer.observe(img); });
  }

  function impression(img) {
    var choice = img.getAttribute("data-stylestore-choice");
    if (!choice || seen[choice]) return;
    seen[choice] = true;
    track("impression", choice);
  }

  observe(Array.prototype.slice.call(document.querySelectorAll("img[data-stylestore-choice]")));

  // Clicks and add to cart -----------------------------------------------------
  document.addEventListener("click", function (e) {
    var cart = e.target.closest("[data-stylestore-cart]");
    if (cart) {
      track("add_to_cart", cart.getAttribute("data-stylestore-cart"));
      return;
    }
    var container = e.target.closest("a[href]") || e.target;
    var img = container.matches("img[data-stylestore-choice]")
      ? container : container.querySelector && container.querySelector("img[data-stylestore-choice]");
    if (img) {
      impression(img);  // a click proves the image was seen
      track("click", img.getAttribute("data-stylestore-choice"));
      if (clickedCookie && container.matches("a[href]")) {
        document.cookie = clickedCookie + "=" + img.getAttribute("data-stylestore-choice") + "; path=/; max-age=" +
          CLICKED_SECONDS + "; samesite=lax" + (location.protocol === "https:" ? "; secure" : "");
      }
    }
  }, true);

  // Style picker -------------------------------------------------------------
  // The element an image is shown by: its <picture>, else itself.
  function holder(img) {
    return img.parentNode && img.parentNode.nodeName === "PICTURE" ? img.parentNode : img;
  }

  function swap(form, button) {
    var reference = form.querySelector("input[name=source]").value;
    var images = document.querySelectorAll("img[data-stylestore-ref]");
    Array.prototype.forEach.call(images, function (img) {
      if (img.getAttribute("data-stylestore-ref") !== reference || img.closest("[data-stylestore-picker]")) return;
      var srcset = button.getAttribute("data-srcset");
      var type = button.getAttribute("data-type");
      var picture = holder(img) !== img ? holder(img) : null;
      var source = picture && picture.querySelector("source");
      var sizes = (source && source.getAttribute("sizes")) || img.getAttribute("sizes");
      if (picture && type) {
        // The look in a <source> of its type; the <img> falls back to the original photo.
        if (!source) {
          source = document.createElement("source");
          picture.insertBefore(source, img);
        }
        source.type = type;
        source.srcset = srcset || button.getAttribute("data-src");
        if (srcset && sizes) { source.setAttribute("sizes", sizes); } else { source.removeAttribute("sizes"); }
        img.removeAttribute("srcset");
        img.removeAttribute("sizes");
        img.src = button.getAttribute("data-fallback");
      } else {
        if (source) source.remove();
        if (srcset) {
          img.setAttribute("srcset", srcset);
          if (sizes) img.setAttribute("sizes", sizes);
        } else {
          img.removeAttribute("srcset");
          img.removeAttribute("sizes");
        }
        img.src = button.getAttribute("data-src");
      }
      img.alt = button.getAttribute("data-alt");
      if (button.hasAttribute("data-width")) {
        img.width = +button.getAttribute("data-width");
        img.height = +button.getAttribute("data-height");
      }
      // What is shown now is the customer's pick, not the shop's choice: no more events
      // for it until the page's fresh render names the pick's own (refresh).
      if (img.hasAttribute("data-stylestore-choice")) {
        img.stylestoreSwapped = img.getAttribute("data-stylestore-choice");
        img.removeAttribute("data-stylestore-choice");
      }
    });
    Array.prototype.forEach.call(form.querySelectorAll("button[aria-pressed]"), function (b) {
      b.setAttribute("aria-pressed", b === button ? "true" : "false");
    });
    // Captions naming the look shown (data-stylestore-look="<reference>") follow it.
    var label = button.textContent.trim();
    Array.prototype.forEach.call(document.querySelectorAll("[data-stylestore-look]"), function (el) {
      if (el.getAttribute("data-stylestore-look") === reference) el.textContent = label;
    });
    var status = form.querySelector("[role=status]");
    if (status) status.textContent = label;
  }

  // What an image shows: its <picture>'s source, else its own candidates.
  function look(img) {
    var source = holder(img) !== img && holder(img).querySelector("source");
    return (source ? source.getAttribute("srcset") : "") + " " + (img.getAttribute("srcset") || img.getAttribute("src"));
  }

  // The page's images by reference, in document order, outside pickers and refreshed parts.
  function imagesByRef(root) {
    var byRef = {};
    Array.prototype.forEach.call(root.querySelectorAll("img[data-stylestore-ref]"), function (img) {
      if (img.closest("[data-stylestore-picker], [data-stylestore-refresh]")) return;
      var ref = img.getAttribute("data-stylestore-ref");
      (byRef[ref] = byRef[ref] || []).push(img);
    });
    return byRef;
  }

  function refresh(form) {
    var source = form.querySelector("input[name=source]");
    var product = source.getAttribute("data-stylestore-product") || source.value;
    var everywhere = form.getAttribute("data-stylestore-scope") !== "product";
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      }).then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html");
        var now = imagesByRef(document), then = imagesByRef(fresh);
        var renamed = {}, refreshed = {}, shown = [];
        Object.keys(now).forEach(function (ref) {
          now[ref].forEach(function (img, i) {
            var other = (then[ref] || [])[i];
            var of = img.getAttribute("data-stylestore-product") || ref;
            if (!other || !(everywhere || of === product)) return;
            var swapped = img.stylestoreSwapped, choice = other.getAttribute("data-stylestore-choice");
            delete img.stylestoreSwapped;
            refreshed[ref] = true;
            if (look(img) === look(other)) {
              // Already in its look: the picked image, swapped, takes the choice the
              // server made for it; an image whose look stays is left alone.
              if (!swapped) return;
              renamed[swapped] = choice || "";
              if (choice) {
                img.setAttribute("data-stylestore-choice", choice);
                shown.push(img);
              }
              return;
            }
            var was = img.getAttribute("data-stylestore-choice") || swapped;
            if (was) renamed[was] = choice || "";
            var copy = document.importNode(holder(other), true);
            holder(img).replaceWith(copy);
            shown.push(copy.nodeName === "IMG" ? copy : copy.querySelector("img"));
          });
        });
        Array.prototype.forEach.call(document.querySelectorAll("[data-stylestore-look]"), function (el) {
          var ref = el.getAttribute("data-stylestore-look");
          var other = refreshed[ref] && fresh.querySelector('[data-stylestore-look="' + CSS.escape(ref) + '"]');
          if (other) el.textContent = other.textContent;
        });
        Array.prototype.forEach.call(document.querySelectorAll("[data-stylestore-refresh]"), function (el) {
          var other = fresh.querySelector('[data-stylestore-refresh="' +
            CSS.escape(el.getAttribute("data-stylestore-refresh")) + '"]');
          var copy = document.importNode(other || el.cloneNode(false), true);
          el.replaceWith(copy);  // empty where the fresh page no longer shows it
          shown.push.apply(shown, copy.querySelectorAll("img[data-stylestore-choice]"));
        });
        Array.prototype.forEach.call(document.querySelectorAll("[data-stylestore-cart]"), function (el) {
          var choice = el.getAttribute("data-stylestore-cart");
          if (!(choice in renamed)) return;
          if (renamed[choice]) { el.setAttribute("data-stylestore-cart", renamed[choice]); }
          else { el.removeAttribute("data-stylestore-cart"); }
        });
        observe(shown.filter(function (img) { return img.hasAttribute("data-stylestore-choice"); }));
      }).catch(function () { /* the picked image shows the pick; a reload shows the rest */ });
  }

  document.addEventListener("submit", function (e) {
    var form = e.target.closest("[data-stylestore-picker]");
    var button = e.submitter;
    if (!form || !button || !window.fetch) return;
    e.preventDefault();
    flush();  // the looks seen so far are remembered before the page is rendered again
    var style = button.value || null;
    var event = {
      kind: "pick", event_id: eventId(), style: style,
      source: form.querySelector("input[name=source]").value,
      field: form.querySelector("input[name=field]").value
    };
    fetch(endpoint, {
      method: "POST", body: JSON.stringify(event), credentials: "same-origin",
      headers: { "Content-Type": "application/json" }
    }).then(function (response) {
      if (!response.ok) throw new Error(response.status);
      if (style === null) {
        window.location.reload();
      } else {
        swap(form, button);
        refresh(form);
      }
    }).catch(function () {
      form.removeAttribute("data-stylestore-picker");
      button.click();  // fall back to the plain form post
    });
  });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flush();
  });
  window.addEventListener("pagehide", flush);

  window.stylestore = { track: track, flush: flush };
})();
