// A text field bound to a live string that other people edit at the same time. A controlled
// React input puts the caret at the end whenever its value changes underneath the user; this
// one is uncontrolled: when the live value changes, it is written into the field and the
// caret (and selection) is carried across the change, so typing carries on where it was.
import { useLayoutEffect, useRef, type InputHTMLAttributes, type TextareaHTMLAttributes } from "react";
import { transformCaret } from "./caret";

type Common = {
  value: string;
  onText: (text: string) => void;
  multiline?: boolean;
  /** Who else is editing this field right now (shown, and announced to screen readers). */
  editedBy?: string[];
};
type Props = Common &
  Omit<InputHTMLAttributes<HTMLInputElement> & TextareaHTMLAttributes<HTMLTextAreaElement>, "value" | "onChange" | "defaultValue">;

export function CollabText({ value, onText, multiline, editedBy = [], className, ...rest }: Props) {
  const ref = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || el.value === value) return;
    const old = el.value;
    const focused = document.activeElement === el;
    const [start, end] = [el.selectionStart ?? 0, el.selectionEnd ?? 0];
    el.value = value;
    if (focused) el.setSelectionRange(transformCaret(old, value, start), transformCaret(old, value, end));
    // Someone else's change: highlight the field briefly.
    el.classList.remove("remote-change");
    void el.offsetWidth;
    el.classList.add("remote-change");
  }, [value]);
  const others = editedBy.length > 0 ? `${editedBy.join(", ")} editing` : undefined;
  const props = {
    ...rest,
    ref,
    defaultValue: value,
    className: [className, others ? "edited-by-other" : ""].filter(Boolean).join(" ") || undefined,
    title: others,
    "aria-description": others,
    onInput: (e: { currentTarget: { value: string } }) => onText(e.currentTarget.value),
  };
  return multiline ? <textarea {...props} /> : <input {...props} />;
}
