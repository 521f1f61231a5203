import type { ComponentChildren, InputHTMLAttributes } from 'preact';
import { useState } from 'preact/hooks';
import type { FieldDescription } from './api';
import { label, MessageKey, useT } from './i18n';

export function ErrorBox({ error }: { error: Error | string | null | undefined }) {
  const t = useT();
  if (!error) return null;
  return (
    <p class="error" role="alert">
      <strong>{t('common.error')}:</strong> {typeof error === 'string' ? error : error.message}
    </p>
  );
}

export function Notice({ text }: { text: string | null }) {
  return text ? (
    <p class="notice" role="status">
      {text}
    </p>
  ) : null;
}

export function Loading({ when }: { when: boolean }) {
  const t = useT();
  return when ? <p aria-busy="true">{t('common.loading')}</p> : null;
}

const STATUS_TONE: Record<string, string> = {
  connected: 'ok',
  active: 'ok',
  done: 'ok',
  answered: 'ok',
  pending: 'wait',
  skipped: 'muted',
  needs_auth: 'warn',
  needs_reauth: 'warn',
  missed: 'warn',
  busy: 'warn',
  cancelled: 'muted',
  failed: 'bad',
  error: 'bad',
  disabled: 'muted',
};

/** A state in words and colour (the words carry it; colour only helps). */
export function Badge({ value, prefix = 'status' }: { value: string | null; prefix?: string }) {
  const t = useT();
  if (!value) return <span>—</span>;
  return (
    <span class={`badge tone-${STATUS_TONE[value] ?? 'muted'}`}>{label(t, prefix, value)}</span>
  );
}

export function CopyButton({ text, what }: { text: string; what: string }) {
  const t = useT();
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="secondary outline small"
      aria-label={`${t('common.copy')}: ${what}`}
      onClick={() =>
        void navigator.clipboard?.writeText(text).then(
          () => {
            setDone(true);
            setTimeout(() => setDone(false), 2000);
          },
          () => setDone(false),
        )
      }
    >
      {done ? t('common.copied') : t('common.copy')}
    </button>
  );
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function Select({
  id,
  labelKey,
  value,
  onChange,
  options,
  anyOption = true,
}: {
  id: string;
  labelKey: MessageKey;
  value: string;
  onChange(value: string): void;
  options: { value: string; label: string }[];
  anyOption?: boolean;
}) {
  const t = useT();
  return (
    <label for={id}>
      {t(labelKey)}
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {anyOption && <option value="">{t('common.any')}</option>}
        {options.map((o) => (
          <option value={o.value} key={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  );
}

/**
 * One input of a form generated from a manifest: secrets are password inputs, enums
 * selects, booleans checkboxes, numbers number inputs; the field's description is its hint.
 */
export function ManifestField({
  field,
  group,
  value,
  onChange,
}: {
  field: FieldDescription;
  group: string;
  value: unknown;
  onChange(value: unknown): void;
}) {
  const id = `${group}-${field.name}`;
  const hint = `${id}-hint`;
  const name = `${field.name}${field.required ? ' *' : ''}`;
  if (typeof field.example === 'boolean') {
    return (
      <label for={id}>
        <input
          id={id}
          type="checkbox"
          role="switch"
          checked={value === true}
          aria-describedby={hint}
          onChange={(e) => onChange(e.currentTarget.checked)}
        />
        {name}
        <small id={hint}>{field.description}</small>
      </label>
    );
  }
  return (
    <label for={id}>
      {name}
      {field.enum ? (
        <select
          id={id}
          required={field.required}
          aria-describedby={hint}
          value={String(value ?? '')}
          onChange={(e) => onChange(e.currentTarget.value || undefined)}
        >
          <option value="">—</option>
          {field.enum.map((v) => (
            <option value={v} key={v}>
              {v}
            </option>
          ))}
        </select>
      ) : (
        <input
          id={id}
          name={field.name}
          {...inputType(
            field.secret ? 'password' : typeof field.example === 'number' ? 'number' : 'text',
          )}
          autoComplete={field.secret ? 'new-password' : 'off'}
          required={field.required}
          placeholder={field.secret || field.example === undefined ? '' : String(field.example)}
          aria-describedby={hint}
          value={value === undefined ? '' : String(value)}
          onInput={(e) => {
            const raw = e.currentTarget.value;
            if (raw === '') onChange(undefined);
            else onChange(typeof field.example === 'number' ? Number(raw) : raw);
          }}
        />
      )}
      <small id={hint}>{field.description}</small>
    </label>
  );
}

/** The fields of one part of a manifest (config or credentials) as a fieldset. */
export function ManifestFieldset({
  legend,
  fields,
  group,
  values,
  onChange,
}: {
  legend: string;
  fields: FieldDescription[];
  group: string;
  values: Record<string, unknown>;
  onChange(values: Record<string, unknown>): void;
}) {
  if (fields.length === 0) return null;
  return (
    <fieldset>
      <legend>{legend}</legend>
      {fields.map((f) => (
        <ManifestField
          key={f.name}
          field={f}
          group={group}
          value={values[f.name]}
          onChange={(v) => onChange({ ...values, [f.name]: v })}
        />
      ))}
    </fieldset>
  );
}

/** A list typed as JSON (`["185.45.152.0/24"]`, as list fields describe it), else the text. */
function listOrText(value: unknown): unknown {
  if (typeof value !== 'string' || !value.trim().startsWith('[')) return value;
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) ? parsed : value;
  } catch {
    return value;
  }
}

/** The values of a manifest form without the empty ones. */
export function filled(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(values)
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]) => [k, listOrText(v)]),
  );
}

/** An input's type chosen at run time (Preact types each type's attributes apart). */
export function inputType(
  type: 'text' | 'password' | 'number',
): InputHTMLAttributes<HTMLInputElement> {
  return { type } as InputHTMLAttributes<HTMLInputElement>;
}
