// The dashboard is one static page whose script polls the JSON API (every 2 s) and draws with
// plain DOM and inline SVG: no build step, no CDN, works on an air-gapped operations network.
// All text goes in through textContent, so a DN or error message can never inject markup.

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:baseline}
header a{color:#9cc3ff;text-decoration:none}
main{padding:16px 20px;display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px}
section.wide{grid-column:1/-1}
h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eef0f3;font-variant-numeric:tabular-nums}
.bar{display:flex;height:12px;min-width:160px;border-radius:3px;overflow:hidden;background:#eef0f3}
.bar span{display:block;height:100%}
.muted{color:#6b7280}.err{color:#b42318}
.legend span{display:inline-block;margin-right:10px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
`;

const SCRIPT = String.raw`
const COLORS={defined:"#c7ccd4",activated:"#f5b041",sent:"#85c1e9",starting:"#5dade2",running:"#2e86c1",finished:"#27ae60",failed:"#c0392b",cancelled:"#7f8c8d"};
const STATES=Object.keys(COLORS);
const $=(id)=>document.getElementById(id);
function el(tag,attrs,...kids){const e=document.createElement(tag);for(const[k,v]of Object.entries(attrs||{})){if(k==="text")e.textContent=v;else e.setAttribute(k,v);}for(const c of kids)if(c!=null)e.append(c);return e;}
function svg(tag,attrs){const e=document.createElementNS("http://www.w3.org/2000/svg",tag);for(const[k,v]of Object.entries(attrs))e.setAttribute(k,v);return e;}
async function api(p){const r=await fetch(p);if(!r.ok)throw new Error(p+": "+r.status);return r.json();}
function stateBar(counts,total){const b=el("div",{class:"bar",title:STATES.map(s=>s+" "+(counts[s]||0)).join(", ")});for(const s of STATES){const n=counts[s]||0;if(n)b.append(el("span",{style:"width:"+(100*n/total)+"%;background:"+COLORS[s]}));}return b;}
function table(head,rows){const t=el("table",{});t.append(el("tr",{},...head.map(h=>el("th",{text:h}))));for(const r of rows)t.append(el("tr",{},...r.map(c=>c instanceof Node?el("td",{},c):el("td",{text:c==null?"":String(c)}))));return t;}
function hbars(rows,color){const w=460,h=18*rows.length+4;const s=svg("svg",{width:w,height:h,role:"img"});const max=Math.max(1,...rows.map(r=>r.value));rows.forEach((r,i)=>{const y=i*18+2;const bw=Math.max(1,(w-260)*r.value/max);s.append(svg("rect",{x:215,y,width:bw,height:14,fill:color}));const lt=svg("text",{x:0,y:y+11,"font-size":11});lt.textContent=r.label.length>34?"…"+r.label.slice(-33):r.label;s.append(lt);const vt=svg("text",{x:219+bw,y:y+11,"font-size":11});vt.textContent=String(r.value);s.append(vt);});return s;}
function lines(points){const w=900,h=180,pad=30;const s=svg("svg",{width:"100%",viewBox:"0 0 "+w+" "+h,role:"img"});if(points.length<2){const t=svg("text",{x:10,y:20,"font-size":12});t.textContent="collecting samples…";s.append(t);return s;}const t0=points[0].at,t1=points[points.length-1].at;let max=1;for(const p of points)for(const st of STATES)max=Math.max(max,p.states[st]);for(const st of STATES){const d=points.map((p,i)=>(i?"L":"M")+(pad+(w-2*pad)*(p.at-t0)/Math.max(1,t1-t0)).toFixed(1)+","+(h-pad-(h-2*pad)*p.states[st]/max).toFixed(1)).join("");s.append(svg("path",{d,fill:"none",stroke:COLORS[st],"stroke-width":2}));}return s;}
function legend(){const l=el("div",{class:"legend"});for(const s of STATES)l.append(el("span",{},el("i",{style:"background:"+COLORS[s]}),s));return l;}
function replace(id,...nodes){const e=$(id);if(e)e.replaceChildren(...nodes);}
async function refreshDashboard(){
  const [tasks,sites,factory,errors,usage,history,pilots]=await Promise.all([api("/api/tasks"),api("/api/sites"),api("/api/factory"),api("/api/errors"),api("/api/accounting?by=user"),api("/api/history"),api("/api/pilots")]);
  replace("tasks",table(["task","name","owner DN","priority","status","progress","jobs"],tasks.map(t=>{const a=el("a",{href:"/task/"+encodeURIComponent(t.taskId),text:t.taskId});return[a,t.taskName,t.ownerDn,t.priority,t.status,stateBar(t.counts,Math.max(1,t.njobs)),STATES.filter(s=>t.counts[s]).map(s=>s+" "+t.counts[s]).join(", ")];})),legend());
  replace("sites",table(["site","queued","running","finished","failed","pilots","empty-pilot ratio","files held"],sites.map(s=>[s.site,s.queued,s.running,s.counts.finished,s.counts.failed,Object.entries(s.pilots).map(([k,v])=>k+" "+v).join(", "),s.emptyPilotRatio==null?"–":(100*s.emptyPilotRatio).toFixed(0)+"%",s.filesHeld==null?"–":s.filesHeld])));
  replace("pilots",table(["site","state","pilots"],pilots.map(p=>[p.site,p.state,p.count])));
  const breaker=q=>!q.breaker||q.breaker.state==="closed"?"closed":q.breaker.state+" ("+q.breaker.failures+" failed"+(q.breaker.retryAt?", retry "+new Date(q.breaker.retryAt).toLocaleTimeString():"")+")"+(q.breaker.reason?" E"+q.breaker.reason.code+": "+q.breaker.reason.message:"");
  replace("factory",table(["queue","site","submitted","pending","idle","running","exited","empty","missed","activated jobs","rate/min","target/min","breaker"],factory.map(q=>[q.queue,q.site,q.submitted,q.pending,q.idle,q.running,q.exited,q.emptyPilots,q.missed??0,q.activatedJobs??"-",q.ratePerMin.toFixed(1),q.targetPerMin,breaker(q)])));
  replace("errors",errors.length?hbars(errors.map(e=>({label:e.code+" "+e.name,value:e.count})),"#c0392b"):el("p",{class:"muted",text:"no failures"}),table(["code","name","jobs"],errors.map(e=>[e.code,e.name,e.count])));
  replace("usage",usage.length?hbars(usage.map(u=>({label:u.name,value:Math.round(u.wallSec)})),"#2e86c1"):el("p",{class:"muted",text:"no accounting records yet"}),table(["user","jobs","wall s","cpu s"],usage.map(u=>[u.name,u.jobs,u.wallSec.toFixed(1),u.cpuSec.toFixed(2)])));
  replace("history",lines(history.points),legend());
  replace("updated",document.createTextNode("updated "+new Date().toLocaleTimeString()));
}
async function refreshTask(id){
  const [task,jobs]=await Promise.all([api("/api/tasks/"+encodeURIComponent(id)),api("/api/tasks/"+encodeURIComponent(id)+"/jobs")]);
  replace("task-head",el("p",{},el("b",{text:task.taskName+" "}),document.createTextNode("owner "+task.ownerDn+", priority "+task.priority+", status "+task.status)),stateBar(task.counts,Math.max(1,task.njobs)),el("p",{id:"task-counts"},...STATES.map(s=>el("span",{"data-state":s,text:s+" "+task.counts[s]+"  "}))));
  replace("jobs",table(["job","state","site","attempt","error code","error","message","wall s"],jobs.map(j=>[j.jobId,j.state,j.site,j.attempt+"/"+j.maxAttempts,j.errorCode??"",j.errorName??"",j.errorMessage??"",j.wallSec==null?"":j.wallSec.toFixed(1)])));
  replace("updated",document.createTextNode("updated "+new Date().toLocaleTimeString()));
}
const taskId=document.body.dataset.task;
const tick=()=>(taskId?refreshTask(taskId):refreshDashboard()).catch(e=>replace("updated",el("span",{class:"err",text:String(e)})));
tick();setInterval(tick,2000);
`;

function shell(title: string, body: string, taskId?: string): string {
  const data = taskId === undefined ? "" : ` data-task="${taskId.replace(/[^A-Za-z0-9._:@-]/g, "")}"`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title><style>${STYLE}</style></head><body${data}><header><b>pilot-wms monitor</b><a href="/">dashboard</a><a href="/metrics">metrics</a><span id="updated" class="muted"></span></header>${body}<script>${SCRIPT}</script></body></html>`;
}

export function dashboardPage(): string {
  return shell(
    "pilot-wms monitor",
    `<main>
<section class="wide"><h2>Tasks</h2><div id="tasks"></div></section>
<section class="wide"><h2>Jobs by state over time</h2><div id="history"></div></section>
<section><h2>Sites</h2><div id="sites"></div></section>
<section class="wide"><h2>Pilot factory: rates against targets, circuit breakers</h2><div id="factory"></div></section>
<section><h2>Pilots (census)</h2><div id="pilots"></div></section>
<section><h2>Errors by code</h2><div id="errors"></div></section>
<section><h2>Usage by user (wall seconds)</h2><div id="usage"></div></section>
</main>`,
  );
}

export function taskPage(taskId: string): string {
  return shell(`task ${taskId.replace(/[<>&"]/g, "")}`, `<main><section class="wide"><h2>Task ${taskId.replace(/[<>&"]/g, "")}</h2><div id="task-head"></div></section><section class="wide"><h2>Jobs</h2><div id="jobs"></div></section></main>`, taskId);
}
