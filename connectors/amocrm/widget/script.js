/*
 * The telephony hub's amoCRM widget. amoCRM loads it as an AMD module and calls its
 * callbacks; with init_once it lives as long as the page. It keeps one stream of the user's
 * calls from the hub open (a ticket from a session opened with amoCRM's disposable token),
 * shows a card while a call rings for the user and closes it when the call is answered
 * elsewhere or ends, and places click-to-call through the hub.
 */
define(['jquery'], function ($) {
  'use strict';

  var CLAIM_PREFIX = 'telephony-hub:card:';
  var CLAIM_TTL_MS = 120000;
  var MAX_BACKOFF_MS = 30000;

  return function () {
    var self = this;
    var tabId = String(Math.random()).slice(2);
    var source = null;
    var retryTimer = null;
    var backoffMs = 1000;
    var stopped = false;
    var cards = {};
    /** Calls whose card must not open any more (answered elsewhere, or ended). */
    var closed = {};
    var channel =
      typeof BroadcastChannel === 'function' ? new BroadcastChannel('telephony-hub') : null;

    var FALLBACK = {
      card: {
        incoming: 'Incoming call',
        outgoing: 'Outgoing call',
        unknown: 'Unknown number',
        responsible: 'Responsible',
        open: 'Open the card',
        create: 'Create a contact',
        close: 'Close',
        last: 'Last calls',
        answered: 'answered',
        missed: 'missed',
        busy: 'busy',
        failed: 'failed',
        cancelled: 'cancelled',
      },
      call: {
        started: 'Your phone rings first, then the number',
        failed: 'The call could not be placed',
      },
    };

    function text(group, key) {
      var found = typeof self.i18n === 'function' ? self.i18n(group) : null;
      return (found && found[key]) || FALLBACK[group][key];
    }

    function settings() {
      return (typeof self.get_settings === 'function' && self.get_settings()) || {};
    }

    function base() {
      var s = settings();
      var hub = String(s.hub_url || '').replace(/\/+$/, '');
      return (
        hub + '/v1/crm/amocrm/' + encodeURIComponent(String(s.integration_id || '')) + '/widget'
      );
    }

    /** A POST to the hub signed with amoCRM's disposable token (self.$authorizedAjax). */
    function authorized(path, body) {
      return self.$authorizedAjax({
        url: base() + path,
        method: 'POST',
        contentType: 'application/json',
        dataType: 'json',
        data: JSON.stringify(body || {}),
      });
    }

    function userName(id) {
      var account =
        window.APP && typeof APP.constant === 'function' ? APP.constant('account') : null;
      var users = account && account.users;
      return (users && users[id]) || null;
    }

    /**
     * One card per call across the user's tabs: the tab that takes the call's lock shows it
     * and holds the lock until the card closes (the Web Locks API is atomic across tabs; a
     * visible tab asks first). Without it, a claim in localStorage does nearly as well.
     */
    function claim(callId, show) {
      if (navigator.locks && typeof navigator.locks.request === 'function') {
        var wait = document.visibilityState === 'visible' ? 0 : 150;
        setTimeout(function () {
          navigator.locks.request(CLAIM_PREFIX + callId, { ifAvailable: true }, function (lock) {
            if (!lock || stopped) return null;
            return new Promise(function (release) {
              if (!show(release)) release();
            });
          });
        }, wait);
        return;
      }
      try {
        var key = CLAIM_PREFIX + callId;
        var held = JSON.parse(localStorage.getItem(key) || 'null');
        if (held && held.tab !== tabId && Date.now() - held.at < CLAIM_TTL_MS) return;
        localStorage.setItem(key, JSON.stringify({ tab: tabId, at: Date.now() }));
      } catch (e) {
        /* storage unavailable: show it here */
      }
      show(function () {
        try {
          localStorage.removeItem(CLAIM_PREFIX + callId);
        } catch (e) {
          /* storage unavailable */
        }
      });
    }

    function closeCard(callId, tell) {
      var card = cards[callId];
      closed[callId] = true;
      setTimeout(function () {
        delete closed[callId];
      }, CLAIM_TTL_MS);
      if (tell && channel) channel.postMessage({ close: callId });
      if (!card) return;
      card.remove();
      delete cards[callId];
      card.data('release')();
    }

    function showCard(call) {
      if (cards[call.callId]) return;
      claim(call.callId, function (release) {
        if (cards[call.callId] || closed[call.callId]) return false;
        render(call, release);
        return true;
      });
    }

    function render(call, release) {
      var contact = call.contact;
      var card = $('<div class="telephony-hub-card" role="dialog" aria-live="polite"></div>')
        .attr('data-call-id', call.callId)
        .css({
          position: 'fixed',
          right: '16px',
          bottom: 16 + Object.keys(cards).length * 150 + 'px',
          zIndex: 10000,
          width: '300px',
          padding: '12px 14px',
          background: '#ffffff',
          color: '#1f2328',
          border: '1px solid #8c959f',
          borderRadius: '8px',
          boxShadow: '0 4px 16px rgba(0,0,0,.2)',
          font: '14px/1.4 sans-serif',
        });
      card.attr(
        'aria-label',
        text('card', call.direction === 'outbound' ? 'outgoing' : 'incoming')
      );
      $('<div class="telephony-hub-card__title"></div>')
        .text(text('card', call.direction === 'outbound' ? 'outgoing' : 'incoming'))
        .css({ fontSize: '12px', color: '#57606a' })
        .appendTo(card);
      $('<div class="telephony-hub-card__name"></div>')
        .text(contact && contact.name ? contact.name : text('card', 'unknown'))
        .css({ fontWeight: 'bold', fontSize: '16px' })
        .appendTo(card);
      $('<div class="telephony-hub-card__phone"></div>')
        .text(call.phone || '')
        .appendTo(card);
      if (contact && contact.responsible) {
        var who = userName(contact.responsible.crmUserId) || contact.responsible.crmUserId;
        $('<div class="telephony-hub-card__responsible"></div>')
          .text(text('card', 'responsible') + ': ' + who)
          .appendTo(card);
      }
      if (call.lastCalls && call.lastCalls.length) {
        $('<div class="telephony-hub-card__last-title"></div>')
          .text(text('card', 'last'))
          .css({ marginTop: '6px', fontSize: '12px', color: '#57606a' })
          .appendTo(card);
        var list = $('<ul class="telephony-hub-card__last"></ul>').css({
          margin: '2px 0 0',
          paddingLeft: '18px',
          fontSize: '12px',
        });
        call.lastCalls.forEach(function (last) {
          var when = new Date(last.startedAt);
          var time = when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
          var parts = [when.toLocaleDateString() + ' ' + time];
          if (last.result) parts.push(text('card', last.result) || last.result);
          if (last.extension) parts.push(last.extension);
          $('<li></li>').text(parts.join(' · ')).appendTo(list);
        });
        list.appendTo(card);
      }
      var link =
        contact && contact.id
          ? $('<a class="js-navigate-link telephony-hub-card__open"></a>')
              .attr('href', '/contacts/detail/' + encodeURIComponent(contact.id))
              .text(text('card', 'open'))
          : $('<a class="js-navigate-link telephony-hub-card__create"></a>')
              .attr('href', '/contacts/add?phone=' + encodeURIComponent(call.phone || ''))
              .text(text('card', 'create'));
      link.css({ display: 'inline-block', marginTop: '8px', color: '#0550ae' }).appendTo(card);
      $('<button type="button" class="telephony-hub-card__close"></button>')
        .text('×')
        .attr('aria-label', text('card', 'close'))
        .css({
          position: 'absolute',
          top: '6px',
          right: '8px',
          border: 0,
          background: 'none',
          fontSize: '18px',
          cursor: 'pointer',
        })
        .on('click', function () {
          closeCard(call.callId, true);
        })
        .appendTo(card);
      card.data('release', release);
      cards[call.callId] = card;
      card.appendTo(document.body);
    }

    function on(event, handler) {
      source.addEventListener(event, function (message) {
        var data;
        try {
          data = JSON.parse(message.data);
        } catch (e) {
          return;
        }
        handler(data);
      });
    }

    function retry() {
      if (stopped || retryTimer) return;
      var wait = backoffMs + Math.floor(Math.random() * 500);
      backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      retryTimer = setTimeout(function () {
        retryTimer = null;
        connect();
      }, wait);
    }

    /** A ticket opens one stream: after any error the widget asks for a new session. */
    function connect() {
      if (stopped || source) return;
      $.when(authorized('/session')).then(
        function (session) {
          if (stopped) return;
          source = new EventSource(base() + '/stream?ticket=' + encodeURIComponent(session.ticket));
          source.onopen = function () {
            backoffMs = 1000;
            console.info('[telephony-hub] connected');
          };
          source.onerror = function () {
            if (source) source.close();
            source = null;
            retry();
          };
          on('call.ringing', showCard);
          on('call.answered', function (call) {
            // Answered by this user: the card stays until the call ends; elsewhere: it closes.
            if (!call.mine) closeCard(call.callId, true);
          });
          on('call.ended', function (call) {
            closeCard(call.callId, true);
          });
          // Sent on every (re)connect: a call not in it ended while the widget was away.
          on('calls.now', function (now) {
            Object.keys(cards).forEach(function (id) {
              if (now.callIds.indexOf(id) < 0) closeCard(id, true);
            });
          });
        },
        function () {
          retry();
        }
      );
    }

    function callNumber(params) {
      var phone = params && (params.value || params.phone);
      if (!phone) return;
      $.when(authorized('/call', { phone: String(phone) })).then(
        function () {
          if (window.APP && APP.notifications) {
            APP.notifications.show_message({
              header: text('widget', 'name'),
              text: text('call', 'started'),
            });
          }
        },
        function () {
          if (window.APP && APP.notifications) {
            APP.notifications.show_message_error({
              header: text('widget', 'name'),
              text: text('call', 'failed'),
            });
          }
        }
      );
    }

    if (channel) {
      channel.onmessage = function (message) {
        if (message.data && message.data.close) closeCard(message.data.close, false);
      };
    }
    FALLBACK.widget = { name: 'Telephony hub' };

    this.callbacks = {
      render: function () {
        return true;
      },
      init: function () {
        stopped = false;
        if (typeof self.add_action === 'function') self.add_action('phone', callNumber);
        connect();
        return true;
      },
      bind_actions: function () {
        return true;
      },
      settings: function () {
        return true;
      },
      onSave: function () {
        return true;
      },
      destroy: function () {
        stopped = true;
        if (retryTimer) clearTimeout(retryTimer);
        if (source) source.close();
        source = null;
        Object.keys(cards).forEach(function (id) {
          closeCard(id, false);
        });
      },
    };
    return this;
  };
});
